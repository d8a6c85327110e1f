"""Open Inference Protocol inference without a transport: an InferRequest (built by the REST
routes from JSON or binary bodies, or by the gRPC servicer from protobuf) is checked against
the model's inputs, validated and scored through the shared Service (schema, batching,
metrics), and answered as InferOutput arrays that each transport encodes its own way.

The caller holds `service.admitted()` (limits and deadline) around `Inference.infer`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np

from tabship.contract.explanations import BIAS, SCALE
from tabship.contract.manifest import CATEGORICAL, DECISION, LABEL, NUMERIC, PROBABILITIES
from tabship.runtime.dataplane import oip_tensors
from tabship.runtime.dataplane.errors import BadRequest, InvalidRows, NotFound
from tabship.runtime.dataplane.explaining import Explain, parse_explain
from tabship.runtime.dataplane.offload import OFFLOAD_ROWS
from tabship.runtime.dataplane.service import Service
from tabship.runtime.model.session import Scores

PLATFORM = "onnx_onnxv1"
EXTENSIONS = ["binary_tensor_data"]
DATATYPES = {NUMERIC: "FP64", CATEGORICAL: "BYTES"}  # what the model metadata declares
# the graph's outputs (tabship/contract/manifest.py), in the OIP metadata's order
OUTPUTS = (PROBABILITIES, LABEL, DECISION)


def server_version() -> str:
    """tabship's version, as server metadata and the OpenAPI document give it."""
    try:
        return metadata.version("tabship")
    except metadata.PackageNotFoundError:
        return "0"


# Requested by name in `outputs`, or with the request parameter "explain": true; FP64
# [N, columns + 1] (multiclass [N, K, columns + 1]), the bias last as in pred_contribs.
CONTRIBUTIONS = "contributions"


def contributions_metadata(model: Any) -> dict[str, Any] | None:
    """The contributions output's description (columns in order, bias last), or None."""
    explainer = model.explainer
    if explainer is None:
        return None
    return {
        "scale": SCALE,
        "columns": [*explainer.columns, BIAS],
        "features": [*explainer.features, BIAS],
        "explain_by": "request parameter 'explain_by': column (default) or feature",
    }


_MAX_NESTING = 8


@dataclass(slots=True)
class InferInput:
    name: str
    datatype: Any
    shape: Any
    data: Any = None  # JSON elements, flat or nested
    raw: bytes | memoryview | None = None  # little-endian row-major elements


@dataclass(slots=True)
class RequestedOutput:
    name: str
    binary: bool | None = None  # None: the request's binary_data_output


@dataclass(slots=True)
class InferRequest:
    inputs: list[InferInput]
    id: str | None = None
    outputs: list[RequestedOutput] | None = None  # None: every output
    binary_output: bool = False
    explain: bool = False  # parameter "explain": contributions among the default outputs
    explain_by: str | None = None  # parameter "explain_by": column / feature


@dataclass(slots=True)
class InferOutput:
    name: str
    datatype: str
    shape: list[int]
    array: np.ndarray
    binary: bool = False
    parameters: dict[str, str] | None = None  # e.g. the contributions' column names (JSON)


@dataclass(slots=True)
class InferResponse:
    model_name: str
    model_version: str
    outputs: list[InferOutput] = field(default_factory=list)
    id: str | None = None


def response_rows(answer: InferResponse) -> int:
    """The rows an answer holds (its outputs' first dimension)."""
    return max((output.shape[0] for output in answer.outputs), default=0)


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


def _declared_rows(request: InferRequest) -> int:
    """The largest first dimension the inputs declare (0 when none is a plain count)."""
    return max(
        (
            t.shape[0]
            for t in request.inputs
            if isinstance(t.shape, list | tuple) and t.shape and type(t.shape[0]) is int
        ),
        default=0,
    )


def _rows(name: str, shape: Any) -> int:
    if (
        not isinstance(shape, list | tuple)
        or not 1 <= len(shape) <= 2
        or not all(type(d) is int and d >= 0 for d in shape)
        or (len(shape) == 2 and shape[1] != 1)
    ):
        raise BadRequest(
            f"input {name[:100]!r}: shape must be [N] or [N, 1], got {str(list(shape) if isinstance(shape, tuple) else shape)[:100]}"
        )
    return int(shape[0])


class Inference:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.name = service.model.name
        self.version = service.model.version
        self.kinds = {entry["name"]: entry["kind"] for entry in service.model.inputs}
        self.target = service.model.target
        self.outputs = self.target.oip_outputs()

    def check_model(self, name: str, version: str | None) -> None:
        if name != self.name:
            raise NotFound(f"unknown model {name[:100]!r}; this server serves {self.name!r}")
        if version and version != self.version:
            raise NotFound(
                f"unknown version {version[:100]!r} of {self.name!r}; this server serves {self.version!r}"
            )

    def columns(self, request: InferRequest) -> tuple[dict[str, Any], int]:
        """Every input decoded into column values; shapes, datatypes and names checked."""
        if not request.inputs:
            raise BadRequest("'inputs' must be a non-empty array of input tensors")
        columns: dict[str, Any] = {}
        n_rows: int | None = None
        for tensor in request.inputs:
            name = tensor.name
            if name in columns:
                raise BadRequest(f"input {name[:100]!r} given twice")
            n = _rows(name, tensor.shape)
            self.service.check_row_count(n)
            kind = self.kinds.get(name)
            if kind is None:
                raise BadRequest(f"unknown input {name[:100]!r}; see GET /v2/models/{self.name}")
            datatype = oip_tensors.datatype_for(name, kind, tensor.datatype)
            if tensor.raw is not None:
                if kind == CATEGORICAL:
                    values: Any = oip_tensors.bytes_from_raw(name, tensor.raw, n)
                else:
                    values = oip_tensors.numeric_from_raw(name, datatype, tensor.raw, n)
            else:
                if not isinstance(tensor.data, list):
                    raise BadRequest(f"input {name[:100]!r}: 'data' must be an array")
                flat = _flatten(tensor.data)
                if len(flat) != n:
                    raise BadRequest(
                        f"input {name!r}: shape {list(tensor.shape)} holds {n} values, data has {len(flat)}"
                    )
                values = (
                    flat
                    if kind == CATEGORICAL
                    else oip_tensors.numeric_from_json(name, datatype, flat)
                )
            if n_rows is not None and n != n_rows:
                raise BadRequest(f"input {name!r}: {n} rows, other inputs have {n_rows}")
            n_rows = n
            columns[name] = values
        missing = [n for n in self.kinds if n not in columns]
        if missing:
            raise BadRequest(f"missing inputs: {', '.join(missing)}")
        return columns, n_rows or 0

    def wanted(self, request: InferRequest) -> list[tuple[str, bool]]:
        known = [*OUTPUTS, CONTRIBUTIONS]
        if request.outputs is None:
            names = [*OUTPUTS, CONTRIBUTIONS] if request.explain else list(OUTPUTS)
            return [(name, request.binary_output) for name in names]
        unknown = [o.name for o in request.outputs if o.name not in known]
        if unknown:
            raise BadRequest(f"unknown outputs {[u[:50] for u in unknown]}; known: {known}")
        return [
            (o.name, request.binary_output if o.binary is None else o.binary)
            for o in request.outputs
        ]

    async def infer(self, request: InferRequest) -> InferResponse:
        service = self.service
        if _declared_rows(request) >= OFFLOAD_ROWS:  # decoding many elements: the prep thread
            columns, n_rows = await service.offloaded(self.columns, request)
        else:
            columns, n_rows = self.columns(request)
        wanted = self.wanted(request)
        explain: Explain | None = None
        if any(name == CONTRIBUTIONS for name, _ in wanted):
            explain = parse_explain(True, request.explain_by, "parameter")
            service.check_explainable()
        elif request.explain_by is not None:
            parse_explain(None, request.explain_by, "parameter")
        try:
            validated = await service.validate_columns(columns, n_rows)
        except InvalidRows as error:  # the protocol reports request errors as 400
            raise BadRequest(
                error.message, problems=error.problems, problem_count=error.problem_count
            ) from None
        if explain is None:
            scores = await service.score(validated)
            outputs = [self._output(name, binary, scores, n_rows) for name, binary in wanted]
            return InferResponse(self.name, self.version, outputs, request.id)
        scores, explained = await service.score_explained(validated, explain)
        outputs = [
            self._contributions(binary, explained.values, explained.bias, explained.names)
            if name == CONTRIBUTIONS
            else self._output(name, binary, scores, n_rows)
            for name, binary in wanted
        ]
        return InferResponse(self.name, self.version, outputs, request.id)

    def _contributions(
        self, binary: bool, values: np.ndarray, bias: np.ndarray, names: list[str]
    ) -> InferOutput:
        rows, scores = values.shape[0], values.shape[1]
        with_bias = np.concatenate([values, np.broadcast_to(bias, (rows, scores))[..., None]], 2)
        array = self.target.contributions_array(with_bias)
        columns = json.dumps([*names, BIAS])
        return InferOutput(
            CONTRIBUTIONS, "FP64", list(array.shape), array, binary, {"columns": columns}
        )

    def _output(self, name: str, binary: bool, scores: Scores, n_rows: int) -> InferOutput:
        datatype, shape = self.outputs[name]
        if name == PROBABILITIES:
            array = scores.probabilities
            if not np.isfinite(array).all():
                self.service.metrics.nonfinite_outputs += 1
            return InferOutput(name, datatype, [n_rows, shape[1]], array, binary)
        array = scores.labels if name == LABEL else scores.decisions
        return InferOutput(name, datatype, [n_rows], array, binary)
