"""REST adapters of the live evidence (runtime/live/): GET /v1/shadow, GET /v1/drift."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tabship.runtime.dataplane.plane import DataPlane
from tabship.runtime.rest.responses import JSONResponse


class LiveAPI:
    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane

    def routes(self) -> list[Route]:
        return [
            Route("/v1/shadow", self.shadow, methods=["GET"]),
            Route("/v1/drift", self.drift, methods=["GET"]),
        ]

    async def shadow(self, request: Request) -> Response:
        return JSONResponse(self.plane.shadow())

    async def drift(self, request: Request) -> Response:
        return JSONResponse(self.plane.drift())
