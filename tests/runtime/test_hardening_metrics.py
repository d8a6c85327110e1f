"""/metrics: bounded under attacker-chosen methods, paths and columns (raw HTTP, a real server
process); prometheus_client's collectors and OpenMetrics negotiation (the app in this process);
multi-process mode (a real process: PROMETHEUS_MULTIPROC_DIR is its environment)."""

from __future__ import annotations

import json
import random
import string
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import NAME, AppServer
from hostile import exchange, request, responses
from test_server import ROWS, metric


def _word(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(string.ascii_uppercase, k=n))


@pytest.mark.server
@pytest.mark.slow
def test_metrics_size_is_bounded_under_a_label_flood(start_server: Any, version_a: Path) -> None:
    server = start_server(version_a)
    client = server.client
    # every label combination a normal client can produce, once
    client.post("/v1/predict", json=ROWS)
    client.post("/v1/predict", json=[{"Administrative": "x"}])
    client.get("/v1/nothing")
    client.get("/v1/predict")
    client.request("PROPFIND", "/healthz")
    client.post("/v1/predict", json=[{"x": 1}, "text"])
    baseline = client.get("/metrics").text
    rng = random.Random(16)
    sent: list[str] = []
    methods = ["PROPFIND", "MKCOL", "PURGE", "SEARCH", "LOCK", "UNLOCK", "REPORT", "LINK"]
    for i in range(300):
        method = _word(rng, 2000) if i % 2 else methods[i % len(methods)]
        raw = exchange(server.port, request(method, "/healthz"))
        assert responses(raw)[0][0] in (400, 405)
        path = "/" + _word(rng, 60)
        sent.append(path[1:])
        assert client.get(path).status_code == 404
        column = _word(rng, 40)
        sent.append(column)
        row = {**ROWS[0], column: 1, "Month": _word(rng, 12)}
        bad = {**ROWS[0], "Administrative": "x", column: "y"}
        assert client.post("/v1/predict", json=[row]).status_code == 200
        assert client.post("/v1/predict", json=[bad, {column: 1}]).status_code == 422
    after = client.get("/metrics").text
    for word in sent:
        assert word not in after
    assert 'method="other"' in after
    assert metric(after, "tabship_rejected_requests_total", reason="bad_http") == 150
    labelled = {line.split(" ")[0] for line in after.splitlines() if "{" in line}
    before = {line.split(" ")[0] for line in baseline.splitlines() if "{" in line}
    # new series: at most a handful (method "other" and its statuses, the bad_http reason)
    assert len(labelled - before) <= 30, sorted(labelled - before)
    assert len(after) < len(baseline) + 8000


def test_prometheus_collectors_and_openmetrics(app_server: AppServer) -> None:
    app_server.client.post("/v1/predict", json=ROWS[0])
    text = app_server.client.get("/metrics")
    assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
    for name in ("process_resident_memory_bytes", "process_cpu_seconds_total", "python_info"):
        assert name in text.text
    assert metric(text.text, "tabship_rows_scored_total") >= 1
    assert "_created" not in text.text  # as before prometheus_client: no new series
    open_metrics = app_server.client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
    assert open_metrics.text.rstrip().endswith("# EOF")
    assert "# TYPE tabship_rows_scored counter" in open_metrics.text


@pytest.mark.server
@pytest.mark.slow
def test_multiprocess_mode_aggregates_from_the_directory(
    start_server: Any, version_a: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "prom"
    folder.mkdir()
    server = start_server(version_a, {"PROMETHEUS_MULTIPROC_DIR": str(folder)})
    for _ in range(3):
        assert server.client.post("/v1/predict", json=ROWS).status_code == 200
    text = server.client.get("/metrics").text
    assert metric(text, "tabship_rows_scored_total") == 3 * len(ROWS)
    assert (
        metric(
            text, "tabship_http_requests_total", method="POST", route="/v1/predict", status="200"
        )
        == 3
    )
    assert any(folder.glob("*.db"))  # the values live in the shared directory
    info = [line for line in text.splitlines() if line.startswith("tabship_model_info{")]
    assert f'name="{NAME}"' in info[0]
    assert json.loads(httpx.get(f"{server.url}/readyz").text)["status"] == "ready"
