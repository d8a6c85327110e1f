"""The HTTP application: `create_app(settings, model)` with an explicit route list.

tabship API: POST /v1/predict, GET /healthz, /readyz, /v1/metadata, /metrics, /openapi.json;
the Open Inference Protocol routes come from runtime.oip. Errors are JSON with their status;
nothing a client sends reaches the catch-all 500 handler, which answers without details.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.errors import (
    InternalError,
    MethodNotAllowed,
    NotFound,
    NotReady,
    RequestError,
    ShuttingDown,
)
from runtime.model import Model
from runtime.offload import OFFLOAD_ROWS
from runtime.oip import OpenInference
from runtime.openapi import build_openapi
from runtime.page.route import page_routes
from runtime.responses import JSONResponse, render_json
from runtime.service import Service
from runtime.settings import Settings

log = logging.getLogger("tabship.serve")
PUBLIC_MANIFEST_KEYS = (
    "name",
    "version",
    "created_at",
    "dataset",
    "variant",
    "metrics",
    "threshold",
    "target",
    "metrics_per_class",
    "inputs",
    "outputs",
    "parity",
)


_NO_PARAMS: frozenset[str] = frozenset()


class MetricsMiddleware:
    """Counts every response by route template, method and status; times it."""

    def __init__(
        self, app: ASGIApp, service: Service, templates: dict[tuple[Any, frozenset[str]], str]
    ) -> None:
        self.app = app
        self.service = service
        self.templates = templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        started = False

        async def send_status(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except asyncio.CancelledError:
            # cut off by the shutdown timeout: the client still gets a JSON answer
            if not started:
                error = ShuttingDown("the server is shutting down; retry on another replica")
                status = error.status
                await JSONResponse(
                    error.body(), status_code=error.status, headers={"Connection": "close"}
                )(scope, receive, send)
            raise
        finally:
            params = scope.get("path_params")
            key = (scope.get("endpoint"), frozenset(params) if params else _NO_PARAMS)
            route = self.templates.get(key, "unmatched")
            self.service.metrics.request(
                route, scope["method"], status, time.perf_counter() - started
            )


def _error_response(request: Request, error: RequestError) -> Response:
    oip = request.url.path.startswith("/v2")
    return JSONResponse(
        error.oip_body() if oip else error.body(), status_code=error.status, headers=error.headers
    )


async def _request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    return _error_response(request, exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error: RequestError
    if exc.status_code == 404:
        error = NotFound(f"no route {request.url.path[:200]!r}; see /openapi.json")
    elif exc.status_code == 405:
        error = MethodNotAllowed(
            f"{request.method[:20]} is not allowed here", headers=dict(exc.headers or {})
        )
    else:
        error = RequestError(str(exc.detail)[:200])
        error.status = exc.status_code
    return _error_response(request, error)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error_response(request, InternalError("internal error"))


def create_app(settings: Settings, model: Model, service: Service | None = None) -> Starlette:
    """A Starlette app serving `model` (already verified and warmed up) with `settings`."""
    service = service or Service(settings, model)
    oip = OpenInference(service)
    name, version = model.name, model.version
    threshold = model.threshold
    classes = model.classes

    def multiclass_body(
        service: Service, scores: Any, classes: list[str], single: bool
    ) -> dict[str, Any]:
        # label: the class name the graph's `decision` carries (arg-max, ties to the lowest index)
        probabilities = service.by_class(scores, classes)
        labels = scores.decisions.tolist()
        body: dict[str, Any] = {"model": model_ref, "classes": classes}
        if single:
            body["probabilities"] = probabilities[0]
            body["label"] = labels[0]
        else:
            body["predictions"] = [
                {"probabilities": p, "label": d} for p, d in zip(probabilities, labels, strict=True)
            ]
        return body

    openapi = build_openapi(model.manifest, service.schema, settings.max_rows)
    public = {key: model.manifest[key] for key in PUBLIC_MANIFEST_KEYS if key in model.manifest}
    public["sha256"] = model.sha256
    public["signed_by"] = model.artifact.signed_by  # null: signature not checked (no keys)
    model_ref = {"name": name, "version": version}

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(request: Request) -> Response:
        if not service.is_ready:
            raise NotReady("draining" if service.draining else "not ready")
        return JSONResponse({"status": "ready", "model": model_ref})

    async def metadata(request: Request) -> Response:
        return JSONResponse(public)

    async def metrics(request: Request) -> Response:
        body, content_type = service.metrics.render(
            ready=service.is_ready, inflight=service.inflight, accept=request.headers.get("accept")
        )
        return Response(body, headers={"Content-Type": content_type})

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(openapi)

    async def predict(request: Request) -> Response:
        service.check_content_type(request)
        async with service.admitted():
            payload = await service.read_json(request)
            single = isinstance(payload, dict)
            rows = [payload] if single else payload
            if not isinstance(rows, list):
                raise InvalidBody("the body must be a JSON object (one row) or an array of objects")
            service.check_row_count(len(rows))
            validated = await service.validate_rows(rows)
            scores = await service.score(validated)
        body: dict[str, Any]
        if classes:
            body = multiclass_body(service, scores, classes, single)
        else:
            probabilities = service.positive(scores)
            labels = scores.decisions.tolist()
            body = {"model": model_ref, "threshold": threshold}
            if single:
                body["probability"] = probabilities[0]
                body["label"] = labels[0]
            else:
                body["predictions"] = [
                    {"probability": p, "label": d}
                    for p, d in zip(probabilities, labels, strict=True)
                ]
        if validated.unseen:
            body["unseen_categories"] = validated.unseen
        if validated.ignored_columns:
            body["ignored_columns"] = [c[:200] for c in validated.ignored_columns[:50]]
        if validated.n_rows >= OFFLOAD_ROWS:  # never refused: the scoring is done
            content = await service.offloaded(render_json, body, bounded=False)
        else:
            content = render_json(body)
        return Response(content, media_type="application/json")

    routes = [
        Route("/v1/predict", predict, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/v1/metadata", metadata, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        *oip.routes(),
        *page_routes(settings, model),
    ]
    templates = {
        (route.endpoint, frozenset(route.param_convertors)): route.path for route in routes
    }

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.ready = True
        log.info("ready: %s %s (sha256 %s)", name, version, model.sha256)
        try:
            yield
        finally:
            service.draining = True
            service.close()

    app = Starlette(
        routes=routes,
        middleware=[Middleware(MetricsMiddleware, service=service, templates=templates)],
        exception_handlers={
            RequestError: _request_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
        lifespan=lifespan,
    )
    # Starlette's slash redirect builds an absolute URL from the Host header (an open
    # redirect): /healthz/ is a plain 404 instead.
    app.router.redirect_slashes = False
    app.state.service = service
    return app


class InvalidBody(RequestError):
    status = 422
    code = "invalid_body"
