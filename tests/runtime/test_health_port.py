"""The probe port (TABSHIP_HEALTH_PORT, runtime/health_listener.py): the same /healthz and /readyz
answers as the main port from a thread of its own, JSON refusals, slow clients, a stalled loop,
draining, and a port that cannot be bound. Its latency under a batch flood is in test_flood.py."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import free_port
from hostile import connect, exchange, read_all, responses
from test_server import metric

from runtime.errors import NotReady
from runtime.health_listener import HealthListener, Heartbeat, bind


def _health(port: int, path: str, method: str = "GET") -> httpx.Response:
    return httpx.request(method, f"http://127.0.0.1:{port}{path}", timeout=10)


@pytest.mark.server
def test_the_health_port_answers_as_the_main_port_does(start_server: Any, version_a: Path) -> None:
    port = free_port()
    server = start_server(version_a, {"TABSHIP_HEALTH_PORT": str(port), "TABSHIP_DRAIN_S": "5"})
    for path in ("/healthz", "/readyz"):
        main, probe = server.client.get(path), _health(port, path)
        assert probe.status_code == main.status_code == 200
        assert probe.json() == main.json()
        assert probe.headers["content-type"] == "application/json"
        assert probe.headers["connection"] == "close"
    assert _health(port, "/healthz?probe=1").json() == {"status": "alive"}
    head = _health(port, "/readyz", "HEAD")
    assert head.status_code == 200
    assert head.content == b""
    refused = {
        "POST": _health(port, "/healthz", "POST"),
        "unknown path": _health(port, "/v1/predict"),
    }
    assert refused["POST"].status_code == 405
    assert refused["POST"].headers["allow"] == "GET"
    assert refused["unknown path"].status_code == 404
    for answer in refused.values():
        assert answer.headers["content-type"] == "application/json"
        assert set(answer.json()["error"]) == {"code", "message"}
    (status, headers, body), *_ = responses(exchange(port, b"\x16\x03\x01 hello\r\n\r\n"))
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "bad_request"
    # counted with the main port's requests (on the serving loop)
    text = server.client.get("/metrics").text
    assert metric(text, "tabship_http_requests_total", route="/readyz", method="GET", status="200")
    assert (
        metric(text, "tabship_http_requests_total", route="/readyz", method="HEAD", status="200")
        == 1
    )

    # draining: readiness false on both ports, liveness still true
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    not_ready = _health(port, "/readyz")
    assert not_ready.status_code == 503
    assert not_ready.json() == server.client.get("/readyz").json()
    assert not_ready.json()["error"]["code"] == "not_ready"
    assert _health(port, "/healthz").status_code == 200
    assert server.wait_exit(30) == 0
    with pytest.raises(httpx.ConnectError):
        _health(port, "/healthz")


@pytest.mark.server
def test_slow_clients_on_the_health_port_do_not_delay_probes(
    start_server: Any, version_a: Path
) -> None:
    port = free_port()
    start_server(version_a, {"TABSHIP_HEALTH_PORT": str(port), "TABSHIP_HEADER_TIMEOUT_S": "2"})
    slow: list[socket.socket] = []
    try:
        for _ in range(40):  # half a head each: held open until the header timeout
            sock = connect(port)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            slow.append(sock)
        assert _health(port, "/healthz").status_code == 200
        for sock in slow:
            (status, headers, body), *_ = responses(read_all(sock, timeout=20))
            assert status == 408
            assert headers["content-type"] == "application/json"
            assert json.loads(body)["error"]["code"] == "request_timeout"
        (status, _, body), *_ = responses(
            exchange(port, b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
        )
        assert status == 431
        assert json.loads(body)["error"]["code"] == "bad_request"
    finally:
        for sock in slow:
            sock.close()
    assert _health(port, "/healthz").status_code == 200


@pytest.mark.server
def test_a_health_port_that_cannot_be_bound_stops_the_server(
    start_server: Any, version_a: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = start_server(version_a, {"TABSHIP_HEALTH_PORT": str(port)}, ready=False)
        assert server.wait_exit(60) != 0
    assert "cannot serve the health port" in server.log


def test_a_stalled_serving_loop_fails_liveness_and_readiness() -> None:
    """In-process: the heartbeat is what a probe on this port proves about the serving loop."""
    heartbeat = Heartbeat()
    ready: dict[str, Any] = {"status": "ready"}

    def readiness() -> dict[str, Any]:
        if ready.get("draining"):
            raise NotReady("draining")
        if ready.get("broken"):
            raise RuntimeError("a bug")
        return ready

    listener = HealthListener(
        bind("127.0.0.1", 0), heartbeat, readiness, stall_s=1.0, header_timeout_s=5
    )
    listener.start()
    try:
        url = f"http://127.0.0.1:{listener.port}"
        assert httpx.get(f"{url}/healthz").json() == {"status": "alive"}
        ready["broken"] = True  # a bug is a JSON 500, never a bare close
        broken = httpx.get(f"{url}/readyz")
        assert broken.status_code == 500
        assert broken.json() == {"error": {"code": "internal", "message": "internal error"}}
        del ready["broken"]
        ready["draining"] = True
        assert httpx.get(f"{url}/readyz").json()["error"]["code"] == "not_ready"
        heartbeat.last -= 2.0  # the serving loop has not run its heartbeat for 2 s
        for path in ("/healthz", "/readyz"):
            stalled = httpx.get(url + path)
            assert stalled.status_code == 503
            assert stalled.json()["error"]["code"] == "stalled"
        loop = asyncio.new_event_loop()  # a running loop beats again: alive again
        heartbeat.start(loop)
        loop.run_until_complete(asyncio.sleep(0.25))
        heartbeat.stop()
        loop.close()
        assert httpx.get(f"{url}/healthz").status_code == 200
    finally:
        listener.stop()
