"""REST bodies of the Open Inference Protocol, in both forms clients send:

- JSON (Content-Type application/json, or none: KServe/Triton clients send none);
- the binary tensor data extension: a JSON header of `Inference-Header-Content-Length` bytes,
  then each input marked with a `binary_data_size` parameter, raw, in input order
  (little-endian, row-major; BYTES elements as a 4-byte little-endian length + bytes).
  Outputs asked for with `binary_data` (or the `binary_data_output` request parameter) come
  back the same way.

Client sizes are only ever offsets into the body already read under the body limit: nothing
is allocated from them. Every malformed body is a BadRequest naming what is wrong.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from tabship.runtime.dataplane import oip_tensors
from tabship.runtime.dataplane.errors import BadRequest, UnsupportedMediaType
from tabship.runtime.dataplane.json_codec import unique_object
from tabship.runtime.dataplane.oip_infer import (
    InferInput,
    InferRequest,
    InferResponse,
    RequestedOutput,
)

HEADER_LENGTH = "inference-header-content-length"
BINARY_TYPES = ("application/octet-stream", "application/vnd.sagemaker-triton.binary+json")
_MAX_HEADER_DIGITS = 19


def _constant(name: str) -> float:
    # tritonclient writes a numpy NaN in an FP64/FP32 JSON tensor as the literal NaN: a
    # missing value. Infinity stays refused, as in /v1/predict (which refuses NaN too).
    if name == "NaN":
        return math.nan
    raise ValueError(f"{name} is not valid JSON (NaN is accepted, as a missing value)")


DECODER = json.JSONDecoder(parse_constant=_constant, object_pairs_hook=unique_object)
_encoder = json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def header_length(headers: Mapping[str, str]) -> int | None:
    """The JSON header's length for a binary body, None for a JSON body; 415 for other types."""
    content_type = headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    declared = headers.get(HEADER_LENGTH)
    if declared is None:
        if media in ("", "application/json"):
            return None
        if media in BINARY_TYPES:
            raise BadRequest(f"a {media} body needs the Inference-Header-Content-Length header")
        raise UnsupportedMediaType(
            f"Content-Type must be application/json (or absent), got {content_type[:100]!r}"
        )
    if media not in ("", "application/json", *BINARY_TYPES):
        raise UnsupportedMediaType(
            "Content-Type of a binary tensor body must be application/octet-stream "
            f"(or absent), got {content_type[:100]!r}"
        )
    text = declared.strip()
    if not text.isdigit() or not text.isascii() or len(text) > _MAX_HEADER_DIGITS:
        raise BadRequest(
            f"Inference-Header-Content-Length must be a byte count, got {declared[:30]!r}"
        )
    return int(text)


def parse_json(body: bytes | memoryview, what: str = "body") -> Any:
    try:
        return DECODER.decode(bytes(body).decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest(f"{what} is not UTF-8 text") from None
    except (ValueError, RecursionError) as error:
        raise BadRequest(f"malformed JSON in the {what}: {str(error)[:200]}") from None


def parse(body: bytes, length: int | None) -> InferRequest:
    """A whole REST body (already read under the body limit) -> InferRequest."""
    if length is None:
        return request_from_json(parse_json(body), None)
    if length > len(body):
        raise BadRequest(
            f"Inference-Header-Content-Length {length} is beyond the body of {len(body)} bytes"
        )
    view = memoryview(body)
    return request_from_json(parse_json(view[:length], "inference header"), view[length:])


def _parameters(where: str, holder: Mapping[str, Any]) -> Mapping[str, Any]:
    parameters = holder.get("parameters")
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise BadRequest(f"{where}: 'parameters' must be an object")
    return parameters


def _flag(where: str, parameters: Mapping[str, Any], key: str) -> bool | None:
    value = parameters.get(key)
    if value is not None and type(value) is not bool:
        raise BadRequest(f"{where}: parameter {key!r} must be true or false")
    return value


def request_from_json(payload: Any, binary: memoryview | None) -> InferRequest:
    if not isinstance(payload, dict):
        raise BadRequest("the inference request must be a JSON object")
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequest("'id' must be a string")
    parameters = _parameters("request", payload)  # unknown parameters are ignored
    binary_output = bool(_flag("request", parameters, "binary_data_output"))
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise BadRequest("'inputs' must be a non-empty array of input tensors")
    tensors: list[InferInput] = []
    offset = 0
    for position, tensor in enumerate(inputs):
        if not isinstance(tensor, dict):
            raise BadRequest(f"inputs[{position}] must be an object")
        name = tensor.get("name")
        if not isinstance(name, str):
            raise BadRequest(f"inputs[{position}].name must be a string")
        where = f"input {name[:100]!r}"
        size = _parameters(where, tensor).get("binary_data_size")
        item = InferInput(name, tensor.get("datatype"), tensor.get("shape"), tensor.get("data"))
        if size is not None:
            if binary is None:
                raise BadRequest(
                    f"{where}: binary_data_size without the Inference-Header-Content-Length header"
                )
            if type(size) is not int or size < 0:
                raise BadRequest(f"{where}: binary_data_size must be a byte count, got {size!r}")
            if "data" in tensor:
                raise BadRequest(f"{where}: both 'data' and binary_data_size given")
            if size > len(binary) - offset:
                raise BadRequest(
                    f"{where}: binary_data_size {size} is beyond the {len(binary) - offset} "
                    "bytes left in the body"
                )
            item.raw = binary[offset : offset + size]
            offset += size
        tensors.append(item)
    if binary is not None and offset != len(binary):
        raise BadRequest(
            f"the binary_data_size of the inputs add up to {offset} bytes, the body has "
            f"{len(binary)} after the inference header"
        )
    explain = bool(_flag("request", parameters, "explain"))
    explain_by = parameters.get("explain_by")
    if explain_by is not None and not isinstance(explain_by, str):
        raise BadRequest("request: parameter 'explain_by' must be a string")
    return InferRequest(
        tensors,
        request_id,
        _outputs(payload.get("outputs")),
        binary_output,
        explain=explain,
        explain_by=explain_by,
    )


def _outputs(requested: Any) -> list[RequestedOutput] | None:
    if requested is None:
        return None
    if not isinstance(requested, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in requested
    ):
        raise BadRequest("'outputs' must be an array of objects with a 'name'")
    return [
        RequestedOutput(
            o["name"], _flag(f"output {o['name'][:100]!r}", _parameters("output", o), "binary_data")
        )
        for o in requested
    ]


def _json_data(array: np.ndarray) -> list[Any]:
    flat: list[Any] = array.reshape(-1).tolist()
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        flat = [v if math.isfinite(v) else None for v in flat]
    return flat


def encode(response: InferResponse) -> tuple[bytes, dict[str, str]]:
    """InferResponse -> (body, extra headers): JSON, or a JSON header + raw outputs."""
    body: dict[str, Any] = {
        "model_name": response.model_name,
        "model_version": response.model_version,
    }
    if response.id is not None:
        body["id"] = response.id
    outputs: list[dict[str, Any]] = []
    raw: list[bytes] = []
    for output in response.outputs:
        entry: dict[str, Any] = {
            "name": output.name,
            "datatype": output.datatype,
            "shape": output.shape,
        }
        if output.parameters:
            entry["parameters"] = dict(output.parameters)
        if output.binary:
            data = oip_tensors.raw_output(output.datatype, output.array)
            entry["parameters"] = {**entry.get("parameters", {}), "binary_data_size": len(data)}
            raw.append(data)
        else:
            entry["data"] = _json_data(output.array)
        outputs.append(entry)
    body["outputs"] = outputs
    header = _encoder.encode(body).encode("ascii")
    if not raw:
        return header, {}
    return b"".join([header, *raw]), {"Inference-Header-Content-Length": str(len(header))}
