"""Shutdown on a real server process: TABSHIP_SHUTDOWN_TIMEOUT_S is honoured even with a long
inference in flight, and the client whose request was cut off gets a JSON error."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import wait_until
from test_server import ROWS, metric

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.mark.parametrize("batching", ["1", "0"])
def test_shutdown_timeout_is_honoured_and_the_cut_request_gets_json(
    start_server: Any, version_a: Path, batching: str
) -> None:
    server = start_server(
        version_a,
        {
            "TABSHIP_TESTONLY_SCORE_DELAY_MS": "20000",
            "TABSHIP_SHUTDOWN_TIMEOUT_S": "1",
            "TABSHIP_REQUEST_TIMEOUT_S": "60",
            "TABSHIP_BATCHING": batching,
        },
    )
    outcome: dict[str, httpx.Response] = {}
    slow = threading.Thread(
        target=lambda: outcome.update(
            r=httpx.post(f"{server.url}/v1/predict", json=ROWS[:3], timeout=60)
        )
    )
    slow.start()
    wait_until(
        lambda: metric(server.client.get("/metrics").text, "tabship_inflight_requests") >= 1,
        "the slow request in flight",
    )
    server.client.close()
    signalled = time.monotonic()
    server.process.send_signal(15)
    status = server.wait_exit(timeout=60)
    took = time.monotonic() - signalled
    slow.join(timeout=60)
    assert not slow.is_alive()
    assert status == 0
    # 1 s of grace plus start/stop overhead; the inference would have taken 20 s
    assert took < 12, took
    response = outcome["r"]
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "shutting_down"
