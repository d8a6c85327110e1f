"""The tabship API v1 over HTTP, an adapter on the data plane (runtime.dataplane):
POST /v1/predict, GET /healthz, /readyz, /v1/metadata, /metrics, /openapi.json."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tabship.runtime.dataplane.explaining import parse_explain
from tabship.runtime.dataplane.json_codec import decode_json
from tabship.runtime.dataplane.plane import DataPlane
from tabship.runtime.rest.body import chunks, require_json
from tabship.runtime.rest.responses import JSONResponse


class TabshipAPI:
    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane

    def routes(self) -> list[Route]:
        return [
            Route("/v1/predict", self.predict, methods=["POST"]),
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/v1/metadata", self.metadata, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
            Route("/openapi.json", self.openapi, methods=["GET"]),
        ]

    async def healthz(self, request: Request) -> Response:
        return JSONResponse(self.plane.live())

    async def readyz(self, request: Request) -> Response:
        return JSONResponse(self.plane.readiness())

    async def metadata(self, request: Request) -> Response:
        return JSONResponse(self.plane.metadata())

    async def metrics(self, request: Request) -> Response:
        body, content_type = self.plane.metrics(request.headers.get("accept"))
        return Response(body, headers={"Content-Type": content_type})

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(self.plane.openapi())

    async def predict(self, request: Request) -> Response:
        plane = self.plane
        require_json(request)
        query = request.query_params
        explain = (  # requests without explain never reach the explainer's module
            parse_explain(query.get("explain"), query.get("explain_by"))
            if "explain" in query or "explain_by" in query
            else None
        )
        content = await plane.exchange(
            chunks(request),
            request.headers.get("content-length"),
            decode_json,
            lambda payload: plane.predict(payload, explain),
            plane.prediction_json,
            plane.prediction_rows,
        )
        return Response(content, media_type="application/json")
