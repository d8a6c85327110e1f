"""Open Inference Protocol JSON requests as KServe/Triton clients send them, against the app in
this process: no Content-Type, every numeric datatype, NaN for missing, exact errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import NAME, AppServer
from test_server import ROWS, direct, oip_request

INFER = f"/v2/models/{NAME}/infer"
ROWS_CLEAN = [{k: v for k, v in row.items() if k != "CustomerId"} for row in ROWS]


def manifest_inputs(version_dir: Path) -> list[dict[str, Any]]:
    return json.loads((version_dir / "manifest.json").read_text())["inputs"]  # type: ignore[no-any-return]


def send(server: AppServer, body: Any, headers: dict[str, str] | None = None) -> Any:
    text = body if isinstance(body, str) else json.dumps(body)
    return server.client.post(INFER, content=text.encode(), headers=headers or {})


def probabilities(response: Any) -> list[float]:
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    return outputs["probabilities"]["data"][1::2]  # type: ignore[no-any-return]


def test_no_content_type_is_read_as_json(app_server: AppServer, version_a: Path) -> None:
    request = oip_request(ROWS_CLEAN, manifest_inputs(version_a))
    expected, _ = direct(version_a, ROWS_CLEAN)
    response = send(app_server, request)  # httpx sends no Content-Type for raw bytes
    assert "content-type" not in response.request.headers
    assert response.status_code == 200, response.text
    assert probabilities(response) == [float(p) for p in expected]
    declared = send(app_server, request, {"content-type": "application/json; charset=utf-8"})
    assert probabilities(declared) == probabilities(response)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_other_declared_types_stay_415(
    app_server: AppServer, version_a: Path, content_type: str
) -> None:
    request = oip_request(ROWS_CLEAN, manifest_inputs(version_a))
    response = send(app_server, request, {"content-type": content_type})
    assert response.status_code == 415
    assert set(response.json()) == {"error"}
    assert content_type in response.json()["error"]


# --- datatypes --------------------------------------------------------------------------------

BASE_ROWS = [
    {"Administrative": 3, "Month": "nov", "VisitorType": "new_visitor", "OperatingSystems": "2"},
    {"Administrative": 0, "Month": "dec", "VisitorType": "other", "OperatingSystems": None},
]


def with_page_values(datatype: str, data: list[Any]) -> dict[str, Any]:
    """A JSON request of BASE_ROWS (FP64/BYTES), PageValues sent as `datatype` with `data`."""
    request = oip_request(
        [{**row, "PageValues": 0, "ExitRates": None} for row in BASE_ROWS], INPUTS
    )
    return change_input(request, "PageValues", datatype=datatype, data=data, shape=[len(data)])


def change_input(request: dict[str, Any], name: str, **changes: Any) -> dict[str, Any]:
    for tensor in request["inputs"]:
        if tensor["name"] == name:
            tensor.update(changes)
    return request


INPUTS: list[dict[str, Any]] = []


@pytest.fixture(autouse=True)
def _inputs(version_a: Path) -> None:
    INPUTS[:] = manifest_inputs(version_a)


def expected_for(version_a: Path, page_values: list[float | None]) -> list[float]:
    rows = [
        {**row, "PageValues": value, "ExitRates": None}
        for row, value in zip(BASE_ROWS, page_values, strict=True)
    ]
    return [float(p) for p in direct(version_a, rows)[0]]


@pytest.mark.parametrize(
    ("datatype", "data", "as_float64"),
    [
        ("FP64", [12.5, 300.25], [12.5, 300.25]),
        ("FP32", [0.1, 300.25], [float(np.float32(0.1)), 300.25]),  # widened exactly
        ("INT64", [12, 2**53], [12.0, float(2**53)]),
        ("INT32", [-7, 300], [-7.0, 300.0]),
        ("INT16", [-32768, 300], [-32768.0, 300.0]),
        ("INT8", [-128, 127], [-128.0, 127.0]),
        ("UINT64", [0, 2**53], [0.0, float(2**53)]),
        ("UINT32", [4294967295, 1], [4294967295.0, 1.0]),
        ("UINT16", [65535, 1], [65535.0, 1.0]),
        ("UINT8", [255, 1], [255.0, 1.0]),
        ("BOOL", [True, False], [1.0, 0.0]),
    ],
)
@pytest.mark.parametrize("content_type", [None, "application/json"])
def test_numeric_datatypes_are_exact_float64(
    app_server: AppServer,
    version_a: Path,
    datatype: str,
    data: list[Any],
    as_float64: list[float],
    content_type: str | None,
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = send(app_server, with_page_values(datatype, data), headers)
    assert response.status_code == 200, response.text
    assert probabilities(response) == expected_for(version_a, as_float64)


def test_nan_literal_is_a_missing_value(app_server: AppServer, version_a: Path) -> None:
    expected = expected_for(version_a, [None, 5.0])
    for datatype in ("FP64", "FP32"):
        text = json.dumps(with_page_values(datatype, [0.0, 5.0])).replace("0.0, 5.0", "NaN, 5.0")
        assert "NaN" in text
        response = send(app_server, text)
        assert response.status_code == 200, response.text
        assert probabilities(response) == expected
    as_null = send(app_server, with_page_values("FP64", [None, 5.0]))
    assert probabilities(as_null) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('"data": [Infinity, 5.0]', "Infinity is not valid JSON"),
        ('"data": [-Infinity, 5.0]', "-Infinity is not valid JSON"),
    ],
)
def test_infinity_is_refused(app_server: AppServer, text: str, fragment: str) -> None:
    body = json.dumps(with_page_values("FP64", [0.0, 5.0])).replace('"data": [0.0, 5.0]', text)
    response = send(app_server, body)
    assert response.status_code == 400
    assert fragment in response.json()["error"]


def test_nan_in_a_column_that_is_not_nullable(app_server: AppServer) -> None:
    request = change_input(with_page_values("FP64", [1.0, 2.0]), "Administrative", data=[1.5, 7.5])
    text = json.dumps(request)
    assert text.count("[1.5, 7.5]") == 1
    response = send(app_server, text.replace("[1.5, 7.5]", "[1.5, NaN]"))
    assert response.status_code == 400
    assert "row 1, column 'Administrative': not a finite number" in response.json()["error"]


@pytest.mark.parametrize(
    ("datatype", "data", "fragment"),
    [
        ("INT64", [2**53 + 1, 1], "input 'PageValues': element 0 is beyond 2**53"),
        ("UINT64", [1, 2**64 - 1], "input 'PageValues': element 1 is beyond 2**53"),
        ("INT64", [-(2**53) - 1, 1], "input 'PageValues': element 0 is beyond 2**53"),
        ("INT8", [128, 1], "input 'PageValues': INT8 element 0 is out of range"),
        ("UINT8", [-1, 1], "input 'PageValues': UINT8 element 0 is out of range"),
        ("INT32", [1.5, 1], "input 'PageValues': INT32 element 0 is not an integer"),
        ("INT32", [True, 1], "input 'PageValues': INT32 element 0 is not an integer"),
        ("INT32", [None, 1], "input 'PageValues': INT32 element 0 is not an integer"),
        ("FP32", ["1.5", 1], "input 'PageValues': FP32 element 0 is not a number"),
        ("FP32", [1e39, 1], "input 'PageValues': FP32 element 0 is beyond the FP32 range"),
        ("BOOL", [1, 0], "input 'PageValues': BOOL element 0 is not true or false"),
        ("FP16", [1, 0], "input 'PageValues': datatype must be one of FP64"),
        ("BYTES", ["1", "0"], "input 'PageValues': datatype must be one of FP64"),
        ("FP64", [True, 1], "row 0, column 'PageValues': a boolean is not a number"),
    ],
)
def test_bad_numeric_tensors_are_400_naming_the_input(
    app_server: AppServer, datatype: str, data: list[Any], fragment: str
) -> None:
    response = send(app_server, with_page_values(datatype, data))
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"error"}
    assert fragment in response.json()["error"]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (
            lambda r: change_input(r, "Month", datatype="FP64"),
            "input 'Month': datatype must be BYTES",
        ),
        (
            lambda r: change_input(r, "Month", datatype="INT64", data=[1, 2]),
            "input 'Month': datatype must be BYTES",
        ),
        (
            lambda r: change_input(r, "Month", shape=[3]),
            "input 'Month': shape [3] holds 3 values, data has 2",
        ),
        (
            lambda r: change_input(r, "Month", shape=[2, 2]),
            "input 'Month': shape must be [N] or [N, 1]",
        ),
        (
            lambda r: change_input(r, "Month", shape=[-2]),
            "input 'Month': shape must be [N] or [N, 1]",
        ),
        (
            lambda r: change_input(r, "Month", shape=[1], data=["nov"]),
            "input 'Month': 1 rows, other inputs have 2",
        ),
        (
            lambda r: r["inputs"].append({**r["inputs"][0], "name": "Weekday"}),
            "unknown input 'Weekday'",
        ),
        (lambda r: r["inputs"].append(dict(r["inputs"][0])), "input 'PageValues' given twice"),
        (
            lambda r: r.update(inputs=[t for t in r["inputs"] if t["name"] != "Month"]),
            "missing inputs: Month",
        ),
        (lambda r: r.update(parameters=[]), "'parameters' must be an object"),
        (
            lambda r: r.update(parameters={"binary_data_output": "yes"}),
            "'binary_data_output' must be true or false",
        ),
        (
            lambda r: r.update(outputs=[{"name": "label", "parameters": {"binary_data": 1}}]),
            "'binary_data' must be true or false",
        ),
    ],
)
def test_request_errors_name_the_input(app_server: AppServer, change: Any, fragment: str) -> None:
    request = with_page_values("FP64", [1.0, 2.0])
    change(request)
    response = send(app_server, request)
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"error"}
    assert fragment in response.json()["error"]


def test_id_outputs_and_unknown_parameters(app_server: AppServer, version_a: Path) -> None:
    request = with_page_values("FP64", [1.0, 2.0])
    request["id"] = "abc-123"
    request["parameters"] = {"priority": 3, "timeout": 1000, "custom": {"x": [1]}}
    request["inputs"][0]["parameters"] = {"anything": True}
    request["outputs"] = [{"name": "decision", "parameters": {"classification": 2}}]
    response = send(app_server, request)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == "abc-123"
    assert [o["name"] for o in body["outputs"]] == ["decision"]
    expected = expected_for(version_a, [1.0, 2.0])
    assert body["outputs"][0]["data"] == [int(p >= 0.35) for p in expected]
    assert "Traceback" not in app_server.log
