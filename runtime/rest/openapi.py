"""The OpenAPI 3.1 document of a running server, derived from the model's manifest."""

from __future__ import annotations

from typing import Any

import numpy as np

from tabship.contract.explanations import SECTION
from tabship.contract.manifest import CATEGORICAL
from tabship.contract.rules import BLANK_TEXT, NUMERIC_TEXT
from tabship.contract.target import target_of
from tabship.runtime.dataplane.oip_infer import OUTPUTS, server_version
from tabship.runtime.dataplane.oip_tensors import EXACT_INTEGER, NUMERIC_DATATYPES
from tabship.runtime.model.schema import Column, InputSchema
from tabship.runtime.rest import openapi_explain

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "problems": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["row", "column", "reason"],
                        "properties": {
                            "row": {"type": ["integer", "null"]},
                            "column": {"type": ["string", "null"]},
                            "reason": {"type": "string"},
                        },
                    },
                },
                "problem_count": {"type": "integer"},
                "truncated": {"type": "boolean"},
            },
        }
    },
}
_OIP_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
_JSON = "application/json"


def _response(
    description: str, schema: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description, **extra}
    if schema is not None:
        out["content"] = {_JSON: {"schema": schema}}
    return out


def _errors(codes: list[int], schema: dict[str, Any]) -> dict[str, Any]:
    text = {
        400: "malformed request",
        408: "request body not received within TABSHIP_BODY_TIMEOUT_S (connection closed)",
        404: "unknown model or version",
        413: "body or row count over the limit",
        415: "Content-Type is not application/json",
        422: "rows that do not fit the model's input schema (every problem listed), or a key "
        "given twice in one JSON object (named)",
        503: "overloaded (Retry-After) or not ready",
        504: "per-request deadline exceeded",
    }
    out = {str(code): _response(text[code], schema) for code in codes}
    if "503" in out:
        out["503"]["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
    return out


_FP32_MAX = float(np.finfo(np.float32).max)


def _element_schemas(column: Column) -> dict[str, dict[str, Any]]:
    """datatype -> what one element of `data` may be, for this column (runtime.oip_tensors)."""
    nullable = [{"type": "null"}] if column.nullable else []
    if column.kind == CATEGORICAL:
        return {"BYTES": {"anyOf": [*column.category_json_schemas(), *nullable]}}
    text = f"^(?:{NUMERIC_TEXT}|{BLANK_TEXT})$" if column.nullable else f"^(?:{NUMERIC_TEXT})$"
    out: dict[str, dict[str, Any]] = {
        "FP64": {"anyOf": [{"type": "number"}, {"type": "string", "pattern": text}, *nullable]},
        "FP32": {
            "anyOf": [
                {"type": "number", "minimum": -_FP32_MAX, "maximum": _FP32_MAX},
                *nullable,
            ]
        },
        "BOOL": {"type": "boolean"},
    }
    for datatype in NUMERIC_DATATYPES:
        if datatype.startswith(("INT", "UINT")):
            info = np.iinfo(np.dtype(datatype.lower()))
            out[datatype] = {
                "type": "integer",
                "minimum": max(int(info.min), -EXACT_INTEGER),
                "maximum": min(int(info.max), EXACT_INTEGER),
            }
    return out


def tensor_json_schema(column: Column, shape: dict[str, Any]) -> dict[str, Any]:
    """One input tensor of the Open Inference Protocol: its name, the datatypes its column
    accepts and, per datatype, its elements (flat, or one row per inner array for [N, 1])."""
    variants = []
    for datatype, element in _element_schemas(column).items():
        variants.append(
            {
                "type": "object",
                "required": ["name", "shape", "datatype", "data"],
                "properties": {
                    "name": {"const": column.name},
                    "shape": shape,
                    "datatype": {"const": datatype},
                    "parameters": {"type": ["object", "null"]},
                    "data": {
                        "type": "array",
                        "items": {"anyOf": [element, {"type": "array", "items": element}]},
                    },
                },
            }
        )
    return variants[0] if len(variants) == 1 else {"anyOf": variants}


def build_openapi(manifest: dict[str, Any], schema: InputSchema, max_rows: int) -> dict[str, Any]:
    name, version = manifest["name"], manifest["version"]
    row = schema.row_json_schema()
    target = target_of(manifest)
    header, answer = target.openapi_prediction()
    prediction: dict[str, Any] = {"type": "object", "required": list(answer), "properties": answer}
    common = {
        "model": {
            "type": "object",
            "required": ["name", "version"],
            "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
        },
        **header,
        "unseen_categories": {"type": "object", "additionalProperties": {"type": "integer"}},
        "ignored_columns": {"type": "array", "items": {"type": "string"}},
    }
    predict_response = {
        "oneOf": [
            {
                "type": "object",
                "required": ["model", *header, *answer],
                "properties": {**common, **prediction["properties"]},
            },
            {
                "type": "object",
                "required": ["model", *header, "predictions"],
                "properties": {**common, "predictions": {"type": "array", "items": prediction}},
            },
        ]
    }
    shape = {
        "type": "array",
        "items": {"type": "integer", "minimum": 0, "maximum": max_rows},
        "minItems": 1,
        "maxItems": 2,
    }
    tensors = [tensor_json_schema(column, shape) for column in schema.columns]
    tensor = {"anyOf": tensors}
    # every input exactly once (the server answers 400 to a missing or repeated one): as many
    # tensors as inputs, and each input's among them
    every_input = {
        "type": "array",
        "items": tensor,
        "minItems": len(tensors),
        "maxItems": len(tensors),
        "allOf": [{"contains": one} for one in tensors],
    }
    infer_request = {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": ["string", "null"]},
            "parameters": {"type": ["object", "null"]},
            "inputs": every_input,
            "outputs": {
                # null is "all outputs", as the server reads it (found by schemathesis once
                # the schema let it build a complete request)
                "type": ["array", "null"],
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "enum": list(OUTPUTS)},
                        "parameters": {"type": ["object", "null"]},
                    },
                },
            },
        },
    }
    infer_response: dict[str, Any] = {
        "type": "object",
        "required": ["model_name", "outputs"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "outputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "shape", "datatype", "data"],
                    "properties": {
                        "name": {"type": "string"},
                        "shape": {"type": "array", "items": {"type": "integer"}},
                        "datatype": {"type": "string"},
                        "data": {"type": "array"},
                    },
                },
            },
        },
    }
    described = target.outputs_description()
    if described is not None:
        infer_response["properties"]["outputs"]["description"] = described
    model_metadata = {
        "type": "object",
        "required": ["name", "platform", "inputs", "outputs"],
        "properties": {
            "name": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array"},
            "outputs": {"type": "array"},
        },
    }
    name_param = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    version_param = {
        "name": "version",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    empty_ok = {"200": {"description": "true"}, "400": {"description": "false"}}
    plain = {"type": "object"}
    paths: dict[str, Any] = {
        "/v1/predict": {
            "post": {
                "summary": f"Score rows with {name} {version}",
                "operationId": "predict",
                "requestBody": {
                    "required": True,
                    "content": {
                        _JSON: {
                            "schema": {
                                "anyOf": [
                                    row,
                                    {"type": "array", "items": row, "maxItems": max_rows},
                                ]
                            }
                        }
                    },
                },
                "responses": {
                    "200": _response("scores", predict_response),
                    **_errors([400, 408, 413, 415, 422, 503, 504], _ERROR),
                },
            }
        },
        "/healthz": {
            "get": {"operationId": "healthz", "responses": {"200": _response("alive", plain)}}
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "responses": {
                    "200": _response("ready", plain),
                    "503": _response("not ready (loading or draining)", _ERROR),
                },
            }
        },
        "/v1/metadata": {
            "get": {
                "operationId": "metadata",
                "responses": {"200": _response("model metadata", plain)},
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "responses": {
                    "200": {
                        "description": "Prometheus text format 0.0.4",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "responses": {"200": _response("this document", plain)},
            }
        },
        "/v2/health/live": {"get": {"operationId": "v2_live", "responses": empty_ok}},
        "/v2/health/ready": {"get": {"operationId": "v2_ready", "responses": empty_ok}},
        "/v2": {
            "get": {
                "operationId": "v2_server_metadata",
                "responses": {"200": _response("server metadata", plain)},
            }
        },
    }
    for suffix, params in (
        ("", [name_param]),
        ("/versions/{version}", [name_param, version_param]),
    ):
        base = f"/v2/models/{{name}}{suffix}"
        tag = "_version" if suffix else ""
        paths[base] = {
            "get": {
                "operationId": f"v2_model_metadata{tag}",
                "parameters": params,
                "responses": {
                    "200": _response("model metadata", model_metadata),
                    **_errors([404], _OIP_ERROR),
                },
            }
        }
        paths[f"{base}/ready"] = {
            "get": {
                "operationId": f"v2_model_ready{tag}",
                "parameters": params,
                "responses": {**empty_ok, **_errors([404], _OIP_ERROR)},
            }
        }
        paths[f"{base}/infer"] = {
            "post": {
                "operationId": f"v2_infer{tag}",
                "parameters": params,
                "requestBody": {"required": True, "content": {_JSON: {"schema": infer_request}}},
                "responses": {
                    "200": _response("inference response", infer_response),
                    **_errors([400, 404, 408, 413, 415, 422, 503, 504], _OIP_ERROR),
                },
            }
        }
    if SECTION in manifest:
        openapi_explain.describe(paths["/v1/predict"]["post"], predict_response, manifest)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"tabship: {name}",
            "version": server_version(),
            "description": target.summary(name, version),
        },
        "paths": paths,
    }
