"""The Open Inference Protocol (KServe V2) over REST, an adapter on the data plane
(runtime.dataplane), following kserve/docs/predict-api/v2: health (200 = true, 4xx = false,
empty body), server and model metadata, inference with one input tensor per raw column, as
JSON or with the binary tensor data extension (runtime.oip_body). Errors: {"error": <string>}.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tabship.runtime.dataplane.oip_infer import response_rows
from tabship.runtime.dataplane.plane import DataPlane
from tabship.runtime.rest import oip_body
from tabship.runtime.rest.body import chunks
from tabship.runtime.rest.responses import JSONResponse


def _model(request: Request) -> tuple[str, str | None]:
    return request.path_params["name"], request.path_params.get("version")


class OpenInference:
    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane

    def routes(self) -> list[Route]:
        return [
            Route("/v2/health/live", self.live, methods=["GET"]),
            Route("/v2/health/ready", self.ready, methods=["GET"]),
            Route("/v2", self.server_metadata, methods=["GET"]),
            Route("/v2/models/{name}", self.model_metadata, methods=["GET"]),
            Route("/v2/models/{name}/ready", self.model_ready, methods=["GET"]),
            Route("/v2/models/{name}/infer", self.infer, methods=["POST"]),
            Route("/v2/models/{name}/versions/{version}", self.model_metadata, methods=["GET"]),
            Route("/v2/models/{name}/versions/{version}/ready", self.model_ready, methods=["GET"]),
            Route("/v2/models/{name}/versions/{version}/infer", self.infer, methods=["POST"]),
        ]

    async def live(self, request: Request) -> Response:
        return Response(status_code=200)

    async def ready(self, request: Request) -> Response:
        return Response(status_code=200 if self.plane.ready else 400)

    async def model_ready(self, request: Request) -> Response:
        return Response(status_code=200 if self.plane.model_ready(*_model(request)) else 400)

    async def server_metadata(self, request: Request) -> Response:
        return JSONResponse(self.plane.server_metadata())

    async def model_metadata(self, request: Request) -> Response:
        return JSONResponse(self.plane.model_metadata(*_model(request)))

    async def infer(self, request: Request) -> Response:
        plane = self.plane
        name, version = _model(request)
        plane.check_model(name, version)  # before the body is read
        length = oip_body.header_length(request.headers)
        content, headers = await plane.exchange(
            chunks(request),
            request.headers.get("content-length"),
            lambda body: oip_body.parse(body, length),
            plane.infer,
            oip_body.encode,
            response_rows,
        )
        if headers:
            return Response(content, headers=headers, media_type="application/octet-stream")
        return Response(content, media_type="application/json")
