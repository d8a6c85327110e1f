"""The HTTP server: every endpoint, every error path, the Open Inference Protocol shapes and
equality with onnxruntime called directly, on the app in this process (TestClient); concurrency,
a streamed upload, overload with SIGTERM and a restart on a real process on 127.0.0.1."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort
import pytest
from conftest import NAME, VERSION_A, VERSION_B, AppServer, Server, wait_until

from tabship.contract.values import category_text, number_value

ROWS: list[dict[str, Any]] = [
    {
        "PageValues": 10,
        "ExitRates": 0.05,
        "Administrative": 3,
        "Month": "nov",
        "VisitorType": "new_visitor",
        "OperatingSystems": "2",
    },
    {
        "PageValues": "12.5",
        "ExitRates": None,
        "Administrative": "0",
        "Month": "Dec",
        "VisitorType": "returning_visitor",
        "OperatingSystems": 2.0,
    },
    {  # nullable columns sent as null
        "Administrative": 27,
        "VisitorType": "other",
        "PageValues": None,
        "ExitRates": None,
        "Month": None,
        "OperatingSystems": None,
    },
    {
        "PageValues": 0,
        "ExitRates": "",
        "Administrative": 1e-3,
        "Month": None,
        "VisitorType": "new_visitor",
        "OperatingSystems": 8,
    },
    {
        "PageValues": 361.8,
        "ExitRates": 0.2,
        "Administrative": -4,
        "Month": "smarch",
        "VisitorType": "alien",
        "OperatingSystems": True,
        "CustomerId": 77,
    },
]
JSON = {"content-type": "application/json"}


def direct(version_dir: Path, rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """P(positive) and decision from onnxruntime itself, fed by tabship/contract/values.py only."""
    manifest = json.loads((version_dir / "manifest.json").read_text())
    session = ort.InferenceSession(
        str(version_dir / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    feeds = {}
    for entry in manifest["inputs"]:
        values = [row.get(entry["name"]) for row in rows]
        if entry["kind"] == "numeric":
            feeds[entry["name"]] = np.array([[number_value(v)] for v in values], dtype=np.float64)
        else:
            feeds[entry["name"]] = np.array([[category_text(v)] for v in values], dtype=object)
    probabilities, decision = session.run(["probabilities", "decision"], feeds)
    return probabilities[:, 1], decision


def post(server: Server | AppServer, path: str, body: Any, **kw: Any) -> httpx.Response:
    return server.client.post(path, content=json.dumps(body), headers=JSON, **kw)


def oip_request(
    rows: list[dict[str, Any]], manifest_inputs: list[dict[str, Any]]
) -> dict[str, Any]:
    inputs = []
    for entry in manifest_inputs:
        numeric = entry["kind"] == "numeric"
        inputs.append(
            {
                "name": entry["name"],
                "shape": [len(rows), 1],
                "datatype": "FP64" if numeric else "BYTES",
                "data": [row.get(entry["name"]) for row in rows],
            }
        )
    return {"id": "req-1", "inputs": inputs}


def metric(text: str, name: str, **labels: str) -> float:
    """The value of the sample `name` with exactly `labels` (in any order); 0 when absent."""
    pattern = re.escape(name) + r"(?:\{(.*)\})? (\S+)$"
    for line in text.splitlines():
        match = re.match(pattern, line)
        if match and dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(1) or "")) == labels:
            return float(match.group(2))
    return 0.0


# --- the tabship API ------------------------------------------------------------------------


def test_health_readiness_metadata(app_server: AppServer) -> None:
    assert app_server.client.get("/healthz").json() == {"status": "alive"}
    ready = app_server.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["model"] == {"name": NAME, "version": VERSION_A}
    meta = app_server.client.get("/v1/metadata").json()
    assert meta["name"] == NAME
    assert meta["version"] == VERSION_A
    assert meta["threshold"]["value"] == 0.35
    assert meta["parity"]["status"] == "passed"
    assert [i["name"] for i in meta["inputs"]][:3] == ["PageValues", "ExitRates", "Administrative"]
    assert "metrics" in meta
    assert len(meta["sha256"]) == 64
    for private in ("git", "libraries", "data", "producer"):
        assert private not in meta


def test_predict_equals_onnxruntime(app_server: AppServer, version_a: Path) -> None:
    expected_p, expected_decision = direct(version_a, ROWS)
    batch = post(app_server, "/v1/predict", ROWS)
    assert batch.status_code == 200, batch.text
    body = batch.json()
    assert body["model"] == {"name": NAME, "version": VERSION_A}
    assert body["threshold"] == 0.35
    assert [p["probability"] for p in body["predictions"]] == [float(p) for p in expected_p]
    assert [p["label"] for p in body["predictions"]] == expected_decision.tolist()
    assert body["unseen_categories"] == {"Month": 1, "VisitorType": 1, "OperatingSystems": 1}
    assert body["ignored_columns"] == ["CustomerId"]
    for row, p, d in zip(ROWS, expected_p, expected_decision, strict=True):
        single = post(app_server, "/v1/predict", row).json()
        assert single["probability"] == float(p)
        assert single["label"] == int(d)
        assert single["model"]["version"] == VERSION_A


@pytest.mark.server
@pytest.mark.slow
def test_concurrent_single_rows_are_each_answered_correctly(
    server: Server, version_a: Path
) -> None:
    rows = [dict(ROWS[0], PageValues=i) for i in range(48)]
    expected_p, _ = direct(version_a, rows)
    results: dict[int, float] = {}

    def one(i: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            results[i] = client.post("/v1/predict", json=rows[i]).json()["probability"]

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(rows))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[i] for i in range(len(rows))] == [float(p) for p in expected_p]


def test_every_problem_of_a_bad_batch_is_reported(app_server: AppServer) -> None:
    rows = [
        ROWS[0],
        {
            "PageValues": True,
            "ExitRates": "fast",
            "Administrative": None,
            "Month": ["nov"],
            "VisitorType": "   ",
            "OperatingSystems": "x" * 65,
        },
        "not a row",
        {
            "PageValues": 1e400,
            "ExitRates": None,
            "Administrative": 10**400,
            "Month": None,
            "VisitorType": {"a": 1},
            "OperatingSystems": None,
        },
        {
            "PageValues": None,
            "ExitRates": None,
            "Administrative": "nan",
            "Month": None,
            "VisitorType": "\ud800",
            "OperatingSystems": None,
        },
    ]
    body = (
        "["
        + ",".join(
            json.dumps(r)
            if not isinstance(r, dict) or "PageValues" not in r or r["PageValues"] != 1e400
            else json.dumps(r).replace("Infinity", "1e400")
            for r in rows
        )
        + "]"
    )
    response = app_server.client.post("/v1/predict", content=body, headers=JSON)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_rows"
    got = {(p["row"], p["column"]): p["reason"] for p in error["problems"]}
    assert got == {
        (1, "PageValues"): "a boolean is not a number",
        (1, "ExitRates"): "'fast' is not a number",
        (1, "Administrative"): "null, and the column is not nullable",
        (1, "Month"): "expected text, a number, a boolean or null, got an array",
        (1, "VisitorType"): "blank, and the column is not nullable",
        (1, "OperatingSystems"): "text of 65 characters is longer than max_length 64",
        (2, None): "a row must be a JSON object, got text",
        (3, "PageValues"): "not a finite number",
        (3, "Administrative"): "not a finite number",
        (3, "VisitorType"): "expected text, a number, a boolean or null, got an object",
        (4, "Administrative"): "'nan' is not a number",
        (4, "VisitorType"): "text is not valid Unicode (lone surrogate)",
    }
    assert error["problem_count"] == 12
    assert error["truncated"] is False


def test_absent_key_is_a_problem_not_a_missing_value(app_server: AppServer) -> None:
    """A misspelt (or forgotten) column name must never be scored silently as a missing value:
    every absent input key, nullable or not, is a 422 problem naming the row and the column."""
    misspelt = {k: v for k, v in ROWS[0].items() if k != "PageValues"} | {"Pagevalues": 10}
    forgotten = {k: v for k, v in ROWS[2].items() if k not in ("Month", "Administrative")}
    response = post(app_server, "/v1/predict", [ROWS[0], misspelt, ROWS[1], forgotten])
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_rows"
    reason = "missing column (send null for a missing value)"
    assert error["problems"] == [
        {"row": 1, "column": "PageValues", "reason": reason},
        {"row": 3, "column": "Administrative", "reason": reason},
        {"row": 3, "column": "Month", "reason": reason},
    ]
    assert error["problem_count"] == 3
    single = post(app_server, "/v1/predict", misspelt)
    assert single.status_code == 422
    assert single.json()["error"]["problems"] == [
        {"row": 0, "column": "PageValues", "reason": reason}
    ]
    # the same row with null sent for the missing value is scored
    fixed = post(app_server, "/v1/predict", dict(misspelt, PageValues=None))
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["ignored_columns"] == ["Pagevalues"]


@pytest.mark.parametrize(
    ("headers", "body", "status", "code"),
    [
        ({}, b'{"Administrative": 1}', 415, "unsupported_media_type"),
        ({"content-type": "text/plain"}, b"{}", 415, "unsupported_media_type"),
        (JSON, b'{"Administrative": ', 400, "bad_request"),
        (JSON, b'{"Administrative": NaN, "VisitorType": "other"}', 400, "bad_request"),
        (JSON, b'{"Administrative": Infinity, "VisitorType": "other"}', 400, "bad_request"),
        (JSON, b"\xff\xfe{}", 400, "bad_request"),
        (JSON, b"[" * 200_000 + b"]" * 200_000, 400, "bad_request"),
        (JSON, b"1" * 5000, 400, "bad_request"),
        (JSON, b"42", 422, "invalid_body"),
        (JSON, b'"row"', 422, "invalid_body"),
        (JSON, b"null", 422, "invalid_body"),
        (
            JSON,
            b"[" + b",".join([b'{"Administrative":1,"VisitorType":"other"}'] * 1001) + b"]",
            413,
            "payload_too_large",
        ),
        (JSON, b" " * 1_048_577, 413, "payload_too_large"),
    ],
)
def test_error_statuses(
    app_server: AppServer, headers: dict[str, str], body: bytes, status: int, code: str
) -> None:
    response = app_server.client.post("/v1/predict", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == code
    assert "Traceback" not in response.text


@pytest.mark.server
@pytest.mark.slow
def test_streamed_body_over_the_limit_is_413(server: Server) -> None:
    def chunks():  # no Content-Length: chunked transfer
        for _ in range(20):
            yield b" " * 100_000

    response = server.client.post("/v1/predict", content=chunks(), headers=JSON)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_unknown_route_and_method(app_server: AppServer) -> None:
    missing = app_server.client.get("/v1/nothing")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong = app_server.client.get("/v1/predict")
    assert wrong.status_code == 405
    assert "POST" in wrong.headers["allow"]
    assert wrong.json()["error"]["code"] == "method_not_allowed"


def test_odd_but_valid_input_is_scored(app_server: AppServer) -> None:
    row = {
        "\ud800bad-key": 1,
        "Administrative": "  7  ",
        "VisitorType": " NEW VISITOR ",
        "Month": 12,
        "OperatingSystems": " 02 ",
        "ExitRates": "1e-3",
        "PageValues": ".5",
    }
    response = app_server.client.post("/v1/predict", content=json.dumps(row), headers=JSON)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ignored_columns"] == ["\ud800bad-key"]
    assert "unseen_categories" in body
    assert body["unseen_categories"] == {"Month": 1}
    empty = post(app_server, "/v1/predict", [])
    assert empty.status_code == 200
    assert empty.json()["predictions"] == []


def test_metrics(app_server: AppServer) -> None:
    post(app_server, "/v1/predict", ROWS)
    post(app_server, "/v1/predict", [{"Administrative": "x"}])
    response = app_server.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    info = [line for line in text.splitlines() if line.startswith("tabship_model_info{")]
    assert len(info) == 1
    assert f'name="{NAME}"' in info[0]
    assert f'version="{VERSION_A}"' in info[0]
    assert metric(text, "tabship_ready") == 1
    assert (
        metric(
            text, "tabship_http_requests_total", route="/v1/predict", method="POST", status="200"
        )
        >= 1
    )
    assert (
        metric(
            text, "tabship_http_requests_total", route="/v1/predict", method="POST", status="422"
        )
        >= 1
    )
    assert metric(text, "tabship_rows_scored_total") >= len(ROWS)
    assert metric(text, "tabship_validation_failures_total") >= 1
    assert metric(text, "tabship_validation_problems_total", column="Administrative") >= 1
    assert metric(text, "tabship_unseen_categories_total", column="Month") >= 1
    assert metric(text, "tabship_ignored_columns_total") >= 1
    assert (
        metric(text, "tabship_http_request_duration_seconds_bucket", le="+Inf", route="/v1/predict")
        >= 1
    )
    assert metric(text, "tabship_inference_calls_total") >= 1


def test_openapi_is_derived_from_the_manifest(app_server: AppServer, version_a: Path) -> None:
    document = app_server.client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    body = document["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    row = body["anyOf"][0]
    manifest = json.loads((version_a / "manifest.json").read_text())
    assert list(row["properties"]) == [i["name"] for i in manifest["inputs"]]
    assert row["required"] == [i["name"] for i in manifest["inputs"]]  # absent key: 422
    assert body["anyOf"][1]["maxItems"] == 1000
    assert set(document["paths"]["/v1/predict"]["post"]["responses"]) == {
        "200",
        "400",
        "408",
        "413",
        "415",
        "422",
        "503",
        "504",
    }


# --- Open Inference Protocol ----------------------------------------------------------------


def test_oip_health_and_metadata(app_server: AppServer) -> None:
    for path in (
        "/v2/health/live",
        "/v2/health/ready",
        f"/v2/models/{NAME}/ready",
        f"/v2/models/{NAME}/versions/{VERSION_A}/ready",
    ):
        response = app_server.client.get(path)
        assert response.status_code == 200, path
        assert response.content == b"", path
    server_meta = app_server.client.get("/v2").json()
    assert set(server_meta) == {"name", "version", "extensions"}
    assert server_meta["extensions"] == ["binary_tensor_data"]
    for path in (f"/v2/models/{NAME}", f"/v2/models/{NAME}/versions/{VERSION_A}"):
        meta = app_server.client.get(path).json()
        assert set(meta) == {"name", "versions", "platform", "inputs", "outputs"}
        assert meta["name"] == NAME
        assert meta["versions"] == [VERSION_A]
        assert meta["platform"] == "onnx_onnxv1"
        assert meta["inputs"][0] == {"name": "PageValues", "datatype": "FP64", "shape": [-1, 1]}
        assert {"name": "Month", "datatype": "BYTES", "shape": [-1, 1]} in meta["inputs"]
        assert meta["outputs"] == [
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]},
            {"name": "label", "datatype": "INT64", "shape": [-1]},
            {"name": "decision", "datatype": "INT64", "shape": [-1]},
        ]
    for path in (
        "/v2/models/other",
        f"/v2/models/{NAME}/versions/19990101T000000000000Z-00000000",
        "/v2/models/other/ready",
        "/v2/models/other/infer",
    ):
        response = (
            app_server.client.get(path)
            if not path.endswith("infer")
            else post(app_server, path, {})
        )
        assert response.status_code == 404, path
        assert set(response.json()) == {"error"}
        assert isinstance(response.json()["error"], str)


def test_oip_infer_matches_v1_and_onnxruntime(app_server: AppServer, version_a: Path) -> None:
    manifest = json.loads((version_a / "manifest.json").read_text())
    rows = [{k: v for k, v in row.items() if k != "CustomerId"} for row in ROWS]
    expected_p, expected_decision = direct(version_a, rows)
    for path in (f"/v2/models/{NAME}/infer", f"/v2/models/{NAME}/versions/{VERSION_A}/infer"):
        response = post(app_server, path, oip_request(rows, manifest["inputs"]))
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"model_name", "model_version", "id", "outputs"}
        assert (body["model_name"], body["model_version"], body["id"]) == (NAME, VERSION_A, "req-1")
        outputs = {o["name"]: o for o in body["outputs"]}
        assert set(outputs["probabilities"]) == {"name", "shape", "datatype", "data"}
        assert outputs["probabilities"]["shape"] == [len(rows), 2]
        assert outputs["probabilities"]["datatype"] == "FP32"
        assert outputs["probabilities"]["data"][1::2] == [float(p) for p in expected_p]
        assert outputs["decision"] == {
            "name": "decision",
            "datatype": "INT64",
            "shape": [len(rows)],
            "data": expected_decision.tolist(),
        }
        assert outputs["label"]["datatype"] == "INT64"
    request = oip_request(rows[:1], manifest["inputs"])
    request["outputs"] = [{"name": "decision"}]
    del request["id"]
    only = post(app_server, f"/v2/models/{NAME}/infer", request).json()
    assert "id" not in only
    assert [o["name"] for o in only["outputs"]] == ["decision"]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda r: r["inputs"][0].update(datatype="FP16"), "datatype must be one of FP64"),
        (lambda r: r["inputs"][3].update(datatype="FP64"), "datatype must be BYTES"),
        (lambda r: r["inputs"].pop(2), "missing inputs: Administrative"),
        (lambda r: r["inputs"].pop(0), "missing inputs: PageValues"),  # nullable: still required
        (lambda r: r["inputs"][0].update(shape=[3, 1]), "holds 3 values"),
        (lambda r: r["inputs"][0].update(shape=[2, 3]), "shape must be [N] or [N, 1]"),
        (lambda r: r["inputs"][2].update(data=["abc", 1]), "'abc' is not a number"),
        (lambda r: r.update(inputs="x"), "'inputs' must be a non-empty array"),
        (lambda r: r.update(outputs=[{"name": "zipmap"}]), "unknown outputs"),
        (lambda r: r.update(id=5), "'id' must be a string"),
    ],
)
def test_oip_errors_are_400_with_a_string(
    app_server: AppServer, version_a: Path, change: Any, fragment: str
) -> None:
    manifest = json.loads((version_a / "manifest.json").read_text())
    request = oip_request([ROWS[0], ROWS[1]], manifest["inputs"])
    change(request)
    response = post(app_server, f"/v2/models/{NAME}/infer", request)
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert fragment in body["error"]


# --- with their own settings ----------------------------------------------------------------


@pytest.mark.server
@pytest.mark.slow
def test_slow_request_overload_and_graceful_sigterm(start_server: Any, version_a: Path) -> None:
    server = start_server(
        version_a,
        {
            "TABSHIP_TESTONLY_SCORE_DELAY_MS": "1500",
            "TABSHIP_MAX_INFLIGHT": "1",
            "TABSHIP_RETRY_AFTER_S": "2",
            "TABSHIP_DRAIN_S": "3",
        },
    )
    outcome: dict[str, httpx.Response] = {}
    slow = threading.Thread(
        target=lambda: outcome.update(
            r=httpx.post(f"{server.url}/v1/predict", json=ROWS[0], timeout=60)
        )
    )
    slow.start()
    wait_until(
        lambda: metric(server.client.get("/metrics").text, "tabship_inflight_requests") >= 1,
        "the slow request in flight",
    )
    busy = post(server, "/v1/predict", ROWS[0])
    assert busy.status_code == 503
    assert busy.headers["retry-after"] == "2"
    assert busy.json()["error"]["code"] == "overloaded"
    server.process.send_signal(15)
    # draining: still listening, not ready
    wait_until(lambda: server.client.get("/readyz").status_code != 200, "draining")
    draining = server.client.get("/readyz")
    assert draining.status_code == 503
    assert draining.json()["error"]["message"] == "draining"
    assert server.client.get("/v2/health/ready").status_code == 400
    slow.join(timeout=60)
    assert not slow.is_alive()
    assert outcome["r"].status_code == 200
    assert outcome["r"].json()["model"]["version"] == VERSION_A
    assert server.wait_exit() == 0


def test_deadline_is_504(start_app: Any, version_a: Path) -> None:
    app_server = start_app(
        version_a, {"TABSHIP_TESTONLY_SCORE_DELAY_MS": "1000", "TABSHIP_REQUEST_TIMEOUT_S": "0.2"}
    )
    response = post(app_server, "/v1/predict", ROWS[0])
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "deadline_exceeded"
    manifest = json.loads((version_a / "manifest.json").read_text())
    oip = post(app_server, f"/v2/models/{NAME}/infer", oip_request(ROWS[:1], manifest["inputs"]))
    assert oip.status_code == 504
    assert set(oip.json()) == {"error"}


def test_strict_settings_without_batching(start_app: Any, version_a: Path) -> None:
    app_server = start_app(
        version_a,
        {
            "TABSHIP_EXTRA_COLUMNS": "reject",
            "TABSHIP_MAX_ROWS": "3",
            "TABSHIP_MAX_BODY_BYTES": "3000",
            "TABSHIP_BATCHING": "0",
        },
    )
    rows = [{k: v for k, v in row.items() if k != "CustomerId"} for row in ROWS[:3]]
    expected_p, _ = direct(version_a, rows)
    ok = post(app_server, "/v1/predict", rows)
    assert [p["probability"] for p in ok.json()["predictions"]] == [float(p) for p in expected_p]
    extra = post(app_server, "/v1/predict", ROWS[4])
    assert extra.status_code == 422
    assert {
        "row": 0,
        "column": "CustomerId",
        "reason": "unknown column (this model does not read it)",
    } in extra.json()["error"]["problems"]
    assert post(app_server, "/v1/predict", rows * 2).status_code == 413
    assert (
        post(
            app_server,
            "/v1/predict",
            [{"Administrative": 1, "VisitorType": "x" * 60}] * 3 + [{}] * 0 + [{"pad": "y" * 3000}],
        ).status_code
        == 413
    )


@pytest.mark.server
@pytest.mark.slow
def test_model_swap_by_restart(start_server: Any, version_a: Path, version_b: Path) -> None:
    for version_dir, version, threshold in (
        (version_b, VERSION_B, 0.6),
        (version_a, VERSION_A, 0.35),
    ):
        server = start_server(version_dir)
        assert server.client.get("/v1/metadata").json()["version"] == version
        body = post(server, "/v1/predict", ROWS).json()
        expected_p, expected_decision = direct(version_dir, ROWS)
        assert body["threshold"] == threshold
        assert [p["probability"] for p in body["predictions"]] == [float(p) for p in expected_p]
        assert [p["label"] for p in body["predictions"]] == expected_decision.tolist()
        assert server.stop() == 0


# --- in process: where scoring runs ----------------------------------------------------------


def test_lone_small_requests_skip_the_inference_thread(version_a: Path) -> None:
    """A lone request of <= INLINE_MAX_ROWS rows on the only connection is scored on the event
    loop; a bigger one, one among others or on one of several connections goes through the
    batcher's thread; the scores are the same."""
    import asyncio

    from tabship.runtime.dataplane.service import INLINE_MAX_ROWS, Service
    from tabship.runtime.model.session import Model
    from tabship.runtime.settings import Settings

    settings = Settings(model_uri=str(version_a))
    service = Service(settings, Model.load(settings))
    assert service.batcher is not None
    expected, _ = direct(version_a, ROWS[:3])
    connections = [2]
    service.connections = lambda: connections[0]

    async def score(rows: list[dict[str, Any]], *, pause: bool = False) -> np.ndarray:
        async with service.admitted():
            validated = await service.validate_rows(rows)  # admitted: a slot, its rows
            if pause:
                await asyncio.sleep(0)  # let the companion be admitted too
            scores = await service.score(validated)
        return scores.probabilities[:, 1]

    async def scenario() -> None:
        assert INLINE_MAX_ROWS == 2
        np.testing.assert_allclose(await score(ROWS[:1]), expected[:1], rtol=1e-6)
        assert service.batcher is not None
        worker = service.batcher._worker
        assert worker is not None  # two connections: a request not read yet may be waiting
        service.batcher.close()
        connections[0] = 1
        np.testing.assert_allclose(await score(ROWS[:1]), expected[:1], rtol=1e-6)
        np.testing.assert_allclose(await score(ROWS[:2]), expected[:2], rtol=1e-6)
        assert service.batcher is not None
        assert service.batcher._worker is None
        assert service.metrics.inference_calls == 3
        np.testing.assert_allclose(await score(ROWS[:3]), expected[:3], rtol=1e-6)
        assert service.batcher._worker is not None  # too big: the thread
        together = await asyncio.gather(score(ROWS[:1], pause=True), score(ROWS[1:2], pause=True))
        np.testing.assert_allclose(np.concatenate(together), expected[:2], rtol=1e-6)
        assert service.metrics.inference_calls == 5  # the two companions: one batched call
        assert service.inflight == 0

    try:
        asyncio.run(scenario())
    finally:
        service.close()


def test_request_latency_histogram_times_each_request(version_a: Path) -> None:
    # every scoring call sleeps 0.3 s: each /v1/predict must land in the (0.25, 0.5] bucket,
    # never below 0.25 s nor only in +Inf
    server = AppServer(version_a, {"TABSHIP_TESTONLY_SCORE_DELAY_MS": "300"})
    try:
        for _ in range(2):
            assert post(server, "/v1/predict", ROWS[:1]).status_code == 200
        text = server.client.get("/metrics").text
    finally:
        server.stop()

    def bucket(le: str) -> float:
        return metric(
            text,
            "tabship_http_request_duration_seconds_bucket",
            le=le,
            route="/v1/predict",
        )

    assert bucket("0.25") == 0
    assert bucket("0.5") == 2
    assert bucket("+Inf") == 2
    total = metric(text, "tabship_http_request_duration_seconds_sum", route="/v1/predict")
    assert 0.6 <= total < 1.0


def test_openapi_requires_every_oip_input_once(app_server: AppServer, version_a: Path) -> None:
    """The OIP request schema refuses what the server answers 400 for: an input missing or
    given twice (it accepted a request with only some inputs)."""
    import jsonschema

    document = app_server.client.get("/openapi.json").json()
    infer = document["paths"]["/v2/models/{name}/infer"]["post"]
    schema = infer["requestBody"]["content"]["application/json"]["schema"]
    validator = jsonschema.Draft202012Validator(schema)
    manifest = json.loads((version_a / "manifest.json").read_text())
    body = oip_request(ROWS[:1], manifest["inputs"])
    assert app_server.client.post(f"/v2/models/{NAME}/infer", json=body).status_code == 200
    assert validator.is_valid(body)
    partial = {**body, "inputs": body["inputs"][:-1]}
    twice = {**body, "inputs": [*body["inputs"][:-1], body["inputs"][0]]}
    for refused in (partial, twice):
        assert app_server.client.post(f"/v2/models/{NAME}/infer", json=refused).status_code == 400
        assert not validator.is_valid(refused)
