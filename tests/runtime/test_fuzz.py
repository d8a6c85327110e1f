"""Property-based fuzzing of a live server process from its own /openapi.json (schemathesis, all
checks), and, on the app in this process, the same two acceptance checks on chosen requests (the NUL rule, per-input datatypes and
element ranges) that a fuzzing budget may not reach: what the document calls valid is scored,
what it calls invalid is refused with a 4xx.

Two protocol facts are configured rather than hidden: a request the schema flags as invalid may
be refused with 413 (too many rows) or 415, which schemathesis does not count as a rejection by
default; and an Open Inference Protocol request can satisfy the JSON Schema yet break the
protocol's cross-field rules (every input present, one N for all inputs, data length = shape),
which JSON Schema cannot express, so 400/413 are accepted answers to "valid" OIP requests.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import NAME, VERSION_A, AppServer, Server

CONFIG = f"""
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "406", "413", "415", "422", "428"]

[parameters]
"path.name" = "{NAME}"
"path.version" = "{VERSION_A}"

[[operations]]
include-path-regex = "^/v2/models/.*/infer$"
checks.positive_data_acceptance.expected-statuses = ["200", "400", "413"]
"""


@pytest.mark.server
@pytest.mark.slow
def test_schemathesis_finds_nothing(server: Server, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(config),
        "run",
        f"{server.url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        "25",
        "--seed",
        "20261126",
        "--no-color",
        "--request-timeout",
        "20",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
    assert "Traceback" not in server.log, server.log[-5000:]
    assert "unexpected error" not in server.log


ROW: dict[str, Any] = {
    "PageValues": 10,
    "ExitRates": 0.05,
    "Administrative": 3,
    "Month": "nov",
    "VisitorType": "new_visitor",
    "OperatingSystems": "2",
}
TENSORS: dict[str, Any] = {
    "PageValues": ("FP64", [10.0, None]),
    "ExitRates": ("FP32", [0.05, 0.1]),
    "Administrative": ("INT32", [3, 0]),
    "Month": ("BYTES", ["nov", None]),
    "VisitorType": ("BYTES", ["new_visitor", "other"]),
    "OperatingSystems": ("BYTES", ["2", 3]),
}


def _row(**changes: Any) -> dict[str, Any]:
    return {**ROW, **changes}


def _infer(**changes: tuple[str, list[Any]]) -> dict[str, Any]:
    tensors = {**copy.deepcopy(TENSORS), **changes}
    return {
        "inputs": [
            {"name": name, "datatype": datatype, "shape": [len(data)], "data": data}
            for name, (datatype, data) in tensors.items()
        ]
    }


V1 = [  # (body, valid by the document)
    (_row(), True),
    ([_row(), _row(Month=None, PageValues="12.5")], True),
    (_row(Month="n\x00v"), False),  # the NUL rule
    (_row(VisitorType="new_visitor\x00"), False),
    (_row(VisitorType=" \t"), False),  # blank, not nullable
    (_row(Administrative="1e"), False),
]
OIP = [
    (_infer(), True),
    (_infer(PageValues=("UINT8", [0, 255]), Administrative=("BOOL", [True, False])), True),
    (_infer(Month=("BYTES", [[" nov"], [None]])), True),  # [N, 1] as nested rows
    (_infer(Month=("FP64", [1.0, 2.0])), False),  # a categorical input takes BYTES only
    (_infer(PageValues=("BYTES", ["1", "2"])), False),  # a numeric input does not
    (_infer(Administrative=("INT8", [3, 300])), False),  # element out of the INT8 range
    (_infer(Administrative=("INT64", [3, 2**53 + 1])), False),  # not exactly a float64
    (_infer(ExitRates=("FP32", [0.05, 1e39])), False),  # beyond the FP32 range
    (_infer(Administrative=("FP64", [3, None])), False),  # null in a column not nullable
    (_infer(VisitorType=("BYTES", ["new\x00visitor", "other"])), False),  # the NUL rule
]


def _request_schema(document: dict[str, Any], path: str) -> jsonschema.Draft202012Validator:
    content = document["paths"][path]["post"]["requestBody"]["content"]
    return jsonschema.Draft202012Validator(content["application/json"]["schema"])


@pytest.mark.parametrize(("body", "valid"), V1)
def test_v1_document_and_server_agree(app_server: AppServer, body: Any, valid: bool) -> None:
    validator = _request_schema(app_server.client.get("/openapi.json").json(), "/v1/predict")
    assert validator.is_valid(body) is valid
    response = app_server.client.post("/v1/predict", json=body)
    if valid:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 422, response.text


@pytest.mark.parametrize(("body", "valid"), OIP)
def test_oip_document_and_server_agree(app_server: AppServer, body: Any, valid: bool) -> None:
    path = "/v2/models/{name}/infer"
    validator = _request_schema(app_server.client.get("/openapi.json").json(), path)
    assert validator.is_valid(body) is valid
    response = app_server.client.post(f"/v2/models/{NAME}/infer", json=body)
    if valid:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 400, response.text


def test_declared_error_statuses(app_server: AppServer) -> None:
    document = app_server.client.get("/openapi.json").json()
    for path, codes in (
        ("/v1/predict", {"408", "413", "415", "422", "503", "504"}),
        ("/v2/models/{name}/infer", {"408", "413", "415", "422", "503", "504"}),
    ):
        responses = document["paths"][path]["post"]["responses"]
        assert codes <= set(responses), path
        for code in codes:
            schema = responses[code]["content"]["application/json"]["schema"]
            assert schema["required"] == ["error"]
