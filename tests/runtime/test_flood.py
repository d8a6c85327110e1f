"""/healthz stays responsive while big batches are parsed, validated and encoded (issue 16
item 3): that work runs in the prep thread (runtime/offload.py), not on the event loop.

A real server with a raised row limit gets 20,000-row batches from 4 clients back to back
(each takes ~1 s to handle) while /healthz is probed. On the event loop, every validation
blocked the probes for its whole duration: /healthz p95 was ~0.6 of a batch's own latency
(580 ms against ~1 s). The bound is relative to the batches' latency measured in the same run,
so it is about where the work runs, not about this machine's speed.
"""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Server

pytestmark = [pytest.mark.server, pytest.mark.slow]

ROWS = 20000
CLIENTS = 4
SECONDS = 6.0
ROW = {
    "PageValues": 10,
    "ExitRates": 0.05,
    "Administrative": 3,
    "Month": "nov",
    "VisitorType": "new_visitor",
    "OperatingSystems": "2",
}


def _get(port: int, path: str) -> float:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path)
    assert connection.getresponse().status == 200
    connection.close()
    return time.perf_counter() - started


def test_healthz_answers_while_big_batches_are_validated(
    start_server: Any, version_a: Path
) -> None:
    server: Server = start_server(
        version_a,
        env={
            "TABSHIP_MAX_ROWS": str(ROWS),
            "TABSHIP_MAX_BODY_BYTES": "4000000",
            "TABSHIP_MAX_INFLIGHT_ROWS": str(ROWS * CLIENTS),
            "TABSHIP_REQUEST_TIMEOUT_S": "60",
        },
    )
    body = json.dumps([ROW] * ROWS).encode()
    stop = time.monotonic() + SECONDS
    batches: list[float] = []
    statuses: list[int] = []

    def flood() -> None:
        while time.monotonic() < stop:
            started = time.perf_counter()
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            connection.request(
                "POST", "/v1/predict", body=body, headers={"Content-Type": "application/json"}
            )
            response = connection.getresponse()
            response.read()
            connection.close()
            statuses.append(response.status)
            batches.append(time.perf_counter() - started)

    baseline = [_get(server.port, "/healthz") for _ in range(20)]
    threads = [threading.Thread(target=flood) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    probes: list[float] = []
    while time.monotonic() < stop:
        probes.append(_get(server.port, "/healthz"))
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    assert statuses
    assert set(statuses) == {200}, statuses
    p95 = sorted(probes)[int(0.95 * len(probes))]
    batch = statistics.median(batches)
    figures = {
        "healthz_baseline_p95_ms": round(sorted(baseline)[int(0.95 * len(baseline))] * 1000, 1),
        "healthz_p95_ms": round(p95 * 1000, 1),
        "batch_median_ms": round(batch * 1000, 1),
        "probes": len(probes),
        "batches": len(batches),
    }
    print(figures)
    assert p95 < 0.2 * batch, figures
