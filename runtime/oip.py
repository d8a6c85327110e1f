"""Open Inference Protocol (KServe V2) REST routes, following kserve/docs/predict-api/v2:
health (200 = true, 4xx = false, empty body), server and model metadata, inference with one
input tensor per raw column (FP64 numbers, BYTES text), errors as {"error": <string>}."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runtime.errors import BadRequest, InvalidRows, NotFound, UnsupportedMediaType
from runtime.model import Scores
from runtime.responses import JSONResponse
from runtime.service import Service

DATATYPES = {"numeric": "FP64", "categorical": "BYTES"}
OUTPUTS = {
    "probabilities": ("FP32", [-1, 2]),
    "label": ("INT64", [-1]),
    "decision": ("INT64", [-1]),
}
PLATFORM = "onnx_onnxv1"
_MAX_NESTING = 8


def server_version() -> str:
    try:
        return metadata.version("tabship")
    except metadata.PackageNotFoundError:
        return "0"


def _flatten(data: Any, depth: int = 0) -> list[Any]:
    if depth > _MAX_NESTING:
        raise BadRequest("tensor data nested too deeply")
    out: list[Any] = []
    for item in data:
        if isinstance(item, list):
            out.extend(_flatten(item, depth + 1))
        else:
            out.append(item)
    return out


def _check_content_type(request: Request) -> None:
    """KServe/Triton clients send their JSON requests without a Content-Type: an absent one
    means JSON here; a declared type other than JSON stays a 415."""
    content_type = request.headers.get("content-type")
    if content_type is None or not content_type.strip():
        return
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise UnsupportedMediaType(
            f"Content-Type must be application/json (or absent), got {content_type[:100]!r}"
        )


class OpenInference:
    def __init__(self, service: Service) -> None:
        self.service = service
        model = service.model
        self.name = model.name
        self.version = model.version
        self.kinds = {entry["name"]: entry["kind"] for entry in model.inputs}

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
        name = request.path_params["name"]
        version = request.path_params.get("version")
        if name != self.name:
            raise NotFound(f"unknown model {name[:100]!r}; this server serves {self.name!r}")
        if version is not None and version != self.version:
            raise NotFound(
                f"unknown version {version[:100]!r} of {self.name!r}; this server serves {self.version!r}"
            )

    async def live(self, request: Request) -> Response:
        return Response(status_code=200)

    async def ready(self, request: Request) -> Response:
        return Response(status_code=200 if self.service.is_ready else 400)

    async def model_ready(self, request: Request) -> Response:
        self._check_model(request)
        return Response(status_code=200 if self.service.is_ready else 400)

    async def server_metadata(self, request: Request) -> Response:
        return JSONResponse({"name": "tabship", "version": server_version(), "extensions": []})

    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": [self.version],
            "platform": PLATFORM,
            "inputs": [
                {"name": entry["name"], "datatype": DATATYPES[entry["kind"]], "shape": [-1, 1]}
                for entry in self.service.model.inputs
            ],
            "outputs": [
                {"name": name, "datatype": datatype, "shape": shape}
                for name, (datatype, shape) in OUTPUTS.items()
            ],
        }

    async def model_metadata(self, request: Request) -> Response:
        self._check_model(request)
        return JSONResponse(self.metadata())

    def _columns(self, payload: Any) -> tuple[dict[str, list[Any]], int, list[str], str | None]:
        if not isinstance(payload, dict):
            raise BadRequest("the inference request must be a JSON object")
        request_id = payload.get("id")
        if request_id is not None and not isinstance(request_id, str):
            raise BadRequest("'id' must be a string")
        inputs = payload.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            raise BadRequest("'inputs' must be a non-empty array of input tensors")
        columns: dict[str, list[Any]] = {}
        n_rows: int | None = None
        for position, tensor in enumerate(inputs):
            if not isinstance(tensor, dict):
                raise BadRequest(f"inputs[{position}] must be an object")
            name = tensor.get("name")
            if not isinstance(name, str):
                raise BadRequest(f"inputs[{position}].name must be a string")
            if name in columns:
                raise BadRequest(f"input {name[:100]!r} given twice")
            shape, datatype, data = tensor.get("shape"), tensor.get("datatype"), tensor.get("data")
            if (
                not isinstance(shape, list)
                or not 1 <= len(shape) <= 2
                or not all(type(d) is int and d >= 0 for d in shape)
                or (len(shape) == 2 and shape[1] != 1)
            ):
                raise BadRequest(
                    f"input {name[:100]!r}: shape must be [N] or [N, 1], got {str(shape)[:100]}"
                )
            if not isinstance(data, list):
                raise BadRequest(f"input {name[:100]!r}: 'data' must be an array")
            self.service.check_row_count(shape[0])
            kind = self.kinds.get(name)
            if kind is None:
                if self.service.settings.extra_columns == "reject":
                    raise BadRequest(
                        f"unknown input {name[:100]!r}; see GET /v2/models/{self.name}"
                    )
                columns[name] = []
                continue
            if datatype != DATATYPES[kind]:
                raise BadRequest(
                    f"input {name!r}: datatype must be {DATATYPES[kind]}, got {str(datatype)[:20]!r}"
                )
            values = _flatten(data)
            if len(values) != shape[0]:
                raise BadRequest(
                    f"input {name!r}: shape {shape} holds {shape[0]} values, data has {len(values)}"
                )
            if n_rows is not None and shape[0] != n_rows:
                raise BadRequest(f"input {name!r}: {shape[0]} rows, other inputs have {n_rows}")
            n_rows = shape[0]
            columns[name] = values
        missing = [n for n in self.kinds if n not in columns]
        if missing:
            raise BadRequest(f"missing inputs: {', '.join(missing)}")
        ignored = [n for n in columns if n not in self.kinds]
        for name in ignored:
            del columns[name]
        return columns, n_rows or 0, ignored, request_id

    @staticmethod
    def _requested(payload: dict[str, Any]) -> list[str]:
        requested = payload.get("outputs")
        if requested is None:
            return list(OUTPUTS)
        if not isinstance(requested, list) or not all(
            isinstance(o, dict) and isinstance(o.get("name"), str) for o in requested
        ):
            raise BadRequest("'outputs' must be an array of objects with a 'name'")
        names = [o["name"] for o in requested]
        unknown = [n for n in names if n not in OUTPUTS]
        if unknown:
            raise BadRequest(f"unknown outputs {[u[:50] for u in unknown]}; known: {list(OUTPUTS)}")
        return names

    async def infer(self, request: Request) -> Response:
        self._check_model(request)
        service = self.service
        _check_content_type(request)
        async with service.admitted():
            payload = await service.read_json(request)
            columns, n_rows, ignored, request_id = self._columns(payload)
            wanted = self._requested(payload)
            try:
                validated = service.validate_columns(columns, n_rows)
            except InvalidRows as error:  # the protocol reports request errors as 400
                raise BadRequest(
                    error.message, problems=error.problems, problem_count=error.problem_count
                ) from None
            service.metrics.ignored_columns += len(ignored)
            scores = await service.score(validated)
        body: dict[str, Any] = {"model_name": self.name, "model_version": self.version}
        if request_id is not None:
            body["id"] = request_id
        body["outputs"] = [self._output(name, scores, n_rows) for name in wanted]
        return JSONResponse(body)

    def _output(self, name: str, scores: Scores, n_rows: int) -> dict[str, Any]:
        datatype, _ = OUTPUTS[name]
        if name == "probabilities":
            flat = scores.probabilities.reshape(-1).tolist()
            if not all(v == v and abs(v) != float("inf") for v in flat):
                self.service.metrics.nonfinite_outputs += 1
                flat = [v if v == v and abs(v) != float("inf") else None for v in flat]
            return {"name": name, "datatype": datatype, "shape": [n_rows, 2], "data": flat}
        values = scores.labels if name == "label" else scores.decisions
        return {"name": name, "datatype": datatype, "shape": [n_rows], "data": values.tolist()}
