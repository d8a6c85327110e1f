"""The HTTP application: `create_app(settings, model)` with an explicit route list.

The routes are the REST adapters on the data plane (runtime.dataplane): tabship API v1
(runtime.rest_v1), the Open Inference Protocol (runtime.oip) and the model page. Errors are
JSON with their status; nothing a client sends reaches the catch-all 500 handler, which
answers without details.
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
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tabship.runtime.dataplane.errors import (
    InternalError,
    MethodNotAllowed,
    NotFound,
    RequestError,
    ShuttingDown,
)
from tabship.runtime.dataplane.plane import DataPlane
from tabship.runtime.dataplane.service import Service
from tabship.runtime.live.request_id import RequestIdMiddleware
from tabship.runtime.model.session import Model
from tabship.runtime.page.live import live_sections
from tabship.runtime.page.route import page_routes
from tabship.runtime.rest.live import LiveAPI
from tabship.runtime.rest.oip import OpenInference
from tabship.runtime.rest.responses import JSONResponse
from tabship.runtime.rest.v1 import TabshipAPI
from tabship.runtime.settings import Settings

log = logging.getLogger("tabship.serve")
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
        began = time.perf_counter()
        status = 500
        answered = False  # the response has started: too late for a shutdown answer

        async def send_status(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status = message["status"]
                answered = True
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except asyncio.CancelledError:
            # cut off by the shutdown timeout: the client still gets a JSON answer
            if not answered:
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
                route, scope["method"], status, time.perf_counter() - began
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


def create_app(settings: Settings, model: Model, plane: DataPlane | None = None) -> Starlette:
    """A Starlette app serving `model` (already verified and warmed up) with `settings`: the
    REST adapters (tabship v1, OIP v2) and the model page over one data plane (`plane`, when
    another transport shares it)."""
    plane = plane or DataPlane(Service(settings, model))
    service = plane.service
    name, version = model.name, model.version

    live = service.live
    routes = [
        *TabshipAPI(plane).routes(),
        *LiveAPI(plane).routes(),
        *OpenInference(plane).routes(),
        *page_routes(settings, model, None if live is None else lambda: live_sections(live)),
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
        middleware=[
            Middleware(MetricsMiddleware, service=service, templates=templates),
            # capture keeps each row's request id: the client's X-Request-Id or one made here
            *([Middleware(RequestIdMiddleware)] if live is not None and live.capture else []),
        ],
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
