"""Open Inference Protocol (KServe V2) REST routes, following kserve/docs/predict-api/v2:
health (200 = true, 4xx = false, empty body), server and model metadata, inference with one
input tensor per raw column, as JSON or with the binary tensor data extension
(runtime.oip_body), scored by the transport-free runtime.oip_infer. Errors: {"error": <string>}.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runtime import oip_body
from runtime.offload import OFFLOAD_BYTES
from runtime.oip_infer import DATATYPES, INPUT_DATATYPES, OUTPUTS, Inference, outputs_for
from runtime.responses import JSONResponse
from runtime.service import Service

__all__ = ["INPUT_DATATYPES", "OUTPUTS", "OpenInference", "server_version"]
PLATFORM = "onnx_onnxv1"
EXTENSIONS = ["binary_tensor_data"]


def server_version() -> str:
    try:
        return metadata.version("tabship")
    except metadata.PackageNotFoundError:
        return "0"


def model_metadata(service: Service) -> dict[str, Any]:
    model = service.model
    return {
        "name": model.name,
        "versions": [model.version],
        "platform": PLATFORM,
        "inputs": [
            {"name": entry["name"], "datatype": DATATYPES[entry["kind"]], "shape": [-1, 1]}
            for entry in model.inputs
        ],
        "outputs": [
            {"name": name, "datatype": datatype, "shape": shape}
            for name, (datatype, shape) in outputs_for(model.classes).items()
        ],
    }


class OpenInference:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.inference = Inference(service)

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

    def _check_model(self, request: Request) -> None:
        version = request.path_params.get("version")
        self.inference.check_model(request.path_params["name"], version)

    async def live(self, request: Request) -> Response:
        return Response(status_code=200)

    async def ready(self, request: Request) -> Response:
        return Response(status_code=200 if self.service.is_ready else 400)

    async def model_ready(self, request: Request) -> Response:
        self._check_model(request)
        return Response(status_code=200 if self.service.is_ready else 400)

    async def server_metadata(self, request: Request) -> Response:
        return JSONResponse(
            {"name": "tabship", "version": server_version(), "extensions": EXTENSIONS}
        )

    async def model_metadata(self, request: Request) -> Response:
        self._check_model(request)
        return JSONResponse(model_metadata(self.service))

    async def infer(self, request: Request) -> Response:
        self._check_model(request)
        service = self.service
        length = oip_body.header_length(request.headers)
        async with service.admitted():
            body = await service.read_body(request)
            if len(body) >= OFFLOAD_BYTES:
                parsed = await service.offloaded(oip_body.parse, body, length)
            else:
                parsed = oip_body.parse(body, length)
            answer = await self.inference.infer(parsed)
        if len(body) >= OFFLOAD_BYTES:  # never refused: the scoring is done
            content, headers = await service.offloaded(oip_body.encode, answer, bounded=False)
        else:
            content, headers = oip_body.encode(answer)
        if headers:
            return Response(content, headers=headers, media_type="application/octet-stream")
        return Response(content, media_type="application/json")
