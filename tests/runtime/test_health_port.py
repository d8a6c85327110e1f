"""The probe port (TABSHIP_HEALTH_PORT, runtime/health_listener.py): the same /healthz and /readyz
answers as the main port from a process of its own, JSON refusals, slow clients, a stalled
serving loop, draining, the server's exit, and a port that cannot be bound. Its latency under a
batch flood is in test_flood.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import REPO, free_port
from hostile import connect, exchange, read_all, responses

from tabship.runtime.health_listener import bind


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
    """The listener process on its own, fed by this test in place of the server's heartbeat:
    answers follow the last state line, silence past the stall limit is a 503 `stalled`, and
    the end of the pipe ends the process."""
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    state_read, state_write = os.pipe()
    stall_s, header_timeout_s = "1.0", "5"
    fds = (sock.fileno(), state_read)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tabship.runtime.health_listener",
            *map(str, fds),
            stall_s,
            header_timeout_s,
        ],
        pass_fds=fds,
        stdout=subprocess.PIPE,
        cwd=REPO,
    )
    os.close(state_read)
    sock.close()
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == b"listening\n"
        url = f"http://127.0.0.1:{port}"
        starting = httpx.get(f"{url}/readyz")  # no state line yet
        assert starting.status_code == 503
        assert starting.json()["error"]["code"] == "not_ready"
        os.write(state_write, b"garbled\n")  # a bug: a JSON 500, never a bare close
        time.sleep(0.2)
        broken = httpx.get(f"{url}/readyz")
        assert broken.status_code == 500
        assert broken.json() == {"error": {"code": "internal", "message": "internal error"}}
        os.write(state_write, b'200 {"status":"ready","model":"m"}\n')
        time.sleep(0.2)
        assert httpx.get(f"{url}/readyz").json() == {"status": "ready", "model": "m"}
        assert httpx.get(f"{url}/healthz").json() == {"status": "alive"}
        time.sleep(1.5)  # no heartbeat for longer than the stall limit (1 s)
        for path in ("/healthz", "/readyz"):
            stalled = httpx.get(url + path)
            assert stalled.status_code == 503
            assert stalled.json()["error"]["code"] == "stalled"
        os.write(state_write, b'503 {"error":{"code":"not_ready","message":"draining"}}\n')
        time.sleep(0.2)
        assert httpx.get(f"{url}/healthz").status_code == 200  # beating again: alive
        assert httpx.get(f"{url}/readyz").json()["error"]["message"] == "draining"
        process.send_signal(signal.SIGTERM)  # ignored: only the server ends it
        time.sleep(0.2)
        assert httpx.get(f"{url}/healthz").status_code == 200
        os.close(state_write)
        state_write = -1
        assert process.wait(10) == 0  # end of file: the server is gone, and so is it
    finally:
        if state_write >= 0:
            os.close(state_write)
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
