"""Issue 16 against a real server process: slow clients (drip-fed bodies, half-sent heads), the
connection cap and keep-alive limits, request smuggling, and the Host-header redirect."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from hostile import connect, exchange, read_all, request, responses
from test_server import ROWS, direct, metric

pytestmark = [pytest.mark.server, pytest.mark.slow]


def _scores(client: httpx.Client) -> list[tuple[float, int]]:
    response = client.post("/v1/predict", json=ROWS, timeout=30)
    assert response.status_code == 200, response.text
    return [(p["probability"], p["label"]) for p in response.json()["predictions"]]


def test_drip_fed_connections_do_not_change_a_well_behaved_clients_answers(
    start_server: Any, version_a: Path
) -> None:
    """300 connections that announce a 100 kB body and send one byte, plus 100 that send half
    a request head, more than TABSHIP_MAX_INFLIGHT's default of 256: none may take a scoring
    slot, every real request is answered as before, and every slow connection is closed by
    the server with a JSON 408 after its deadline."""
    server = start_server(
        version_a, {"TABSHIP_BODY_TIMEOUT_S": "10", "TABSHIP_HEADER_TIMEOUT_S": "10"}
    )
    expected_p, expected_d = direct(version_a, ROWS)
    expected = [(float(p), int(d)) for p, d in zip(expected_p, expected_d, strict=True)]
    assert _scores(server.client) == expected
    body_drips: list[socket.socket] = []
    head_drips: list[socket.socket] = []
    for _ in range(300):
        sock = connect(server.port)
        sock.sendall(
            b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n["
        )
        body_drips.append(sock)
    for _ in range(100):
        sock = connect(server.port)
        sock.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Le")
        head_drips.append(sock)
    try:
        answers = []
        with httpx.Client(base_url=server.url, timeout=30) as fresh:
            for _ in range(10):  # while every slow connection is still open
                answers.append(_scores(fresh))
                answers.append(_scores(server.client))
        assert all(a == expected for a in answers)
        # ... and they were answered while the attack held: no slow connection closed yet
        during = server.client.get("/metrics").text
        assert metric(during, "tabship_rejected_requests_total", reason="body_timeout") == 0
        for sock in body_drips + head_drips:
            raw = read_all(sock, timeout=60)  # generous: closed at ~10-11 s
            (status, headers, body), *_ = responses(raw)
            assert status == 408
            assert headers["content-type"] == "application/json"
            assert headers["connection"] == "close"
            assert json.loads(body)["error"]["code"] == "request_timeout"
    finally:
        for sock in body_drips + head_drips:
            sock.close()
    text = server.client.get("/metrics").text
    assert metric(text, "tabship_rejected_requests_total", reason="body_timeout") == 300
    assert metric(text, "tabship_rejected_requests_total", reason="header_timeout") == 100
    assert metric(text, "tabship_rejected_requests_total", reason="overloaded") == 0
    assert _scores(server.client) == expected


def test_a_route_that_does_not_read_the_body_still_closes_a_drip(
    start_server: Any, version_a: Path
) -> None:
    server = start_server(version_a, {"TABSHIP_BODY_TIMEOUT_S": "1"})
    with connect(server.port) as sock:
        sock.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nab")
        raw = read_all(sock, timeout=30)
    statuses = [status for status, _, _ in responses(raw)]
    assert statuses == [405, 408]  # the answer, then the deadline closes the connection


def test_connection_cap_answers_503_json_and_recovers(start_server: Any, version_a: Path) -> None:
    server = start_server(version_a, {"TABSHIP_MAX_CONNECTIONS": "20"})
    server.client.close()  # its keep-alive connection would count too
    held = [connect(server.port) for _ in range(20)]
    try:
        for sock in held:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # half a head: stays open
        time.sleep(0.5)
        status, headers, body = responses(exchange(server.port, request("GET", "/healthz")))[0]
        assert status == 503
        assert headers["retry-after"] == "1"
        assert json.loads(body)["error"]["code"] == "overloaded"
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the server notices the closed connections
        try:
            answer = httpx.get(f"{server.url}/healthz", timeout=10)
        except httpx.TransportError:
            answer = None
        if answer is not None and answer.status_code == 200:
            break
        time.sleep(0.1)
    assert answer is not None
    assert answer.status_code == 200
    text = httpx.get(f"{server.url}/metrics").text
    assert metric(text, "tabship_rejected_requests_total", reason="too_many_connections") >= 1


def test_keepalive_request_limit_closes_the_connection(start_server: Any, version_a: Path) -> None:
    server = start_server(version_a, {"TABSHIP_KEEPALIVE_MAX_REQUESTS": "3"})
    raw = exchange(server.port, request("GET", "/healthz", close=False) * 5)
    answered = responses(raw)
    assert [s for s, _, _ in answered] == [200, 200, 200]
    assert answered[2][1]["connection"] == "close"


def test_idle_keepalive_connection_is_closed(start_server: Any, version_a: Path) -> None:
    server = start_server(version_a, {"TABSHIP_KEEPALIVE_S": "1"})
    with connect(server.port) as sock:
        sock.sendall(request("GET", "/healthz", close=False))
        raw = read_all(sock, timeout=30)  # returns when the server closes it
    assert [s for s, _, _ in responses(raw)] == [200]


SMUGGLING = {
    "content-length and chunked": (
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "bare LF line endings": b"GET /healthz HTTP/1.1\nHost: x\n\n",
    "bare LF after a header": b"GET /healthz HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n",
    "obsolete line folding": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "two Content-Length": (
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n[]"
    ),
}


@pytest.mark.parametrize("name", list(SMUGGLING))
def test_smuggling_shapes_are_refused_and_the_connection_closed(
    server_strict: Any, name: str
) -> None:
    pipelined = request("GET", "/v1/metadata")  # must never be answered
    raw = exchange(server_strict.port, SMUGGLING[name] + pipelined)
    answered = responses(raw)
    assert len(answered) == 1, raw
    status, headers, body = answered[0]
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert json.loads(body)["error"]["code"] == "bad_request"


def test_transfer_encoding_other_than_chunked_is_501(server_strict: Any) -> None:
    raw = exchange(
        server_strict.port,
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + request("GET", "/healthz"),
    )
    answered = responses(raw)
    assert [s for s, _, _ in answered] == [501]
    assert json.loads(answered[0][2])["error"]["code"] == "not_implemented"


def test_no_redirect_is_built_from_the_host_header(server_strict: Any) -> None:
    raw = exchange(server_strict.port, request("GET", "/healthz/", Host="evil.example"))
    (status, headers, body), *_ = responses(raw)
    assert status == 404
    assert "location" not in headers
    assert json.loads(body)["error"]["code"] == "not_found"


@pytest.fixture(scope="module")
def server_strict(version_a: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from conftest import Server

    running = Server(version_a, tmp_path_factory.mktemp("strict") / "server.log").wait_ready()
    yield running
    running.stop()


JAVA_HEAD = (
    b"Host: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
    b"HTTP2-Settings: AAEAAEAAAAIAAAABAAMAAABkAAQBAAAAAAUAAEAA\r\n"
    b"User-Agent: Java-http-client/21\r\nContent-Type: application/json\r\n"
)


def test_an_h2c_upgrade_offer_is_ignored_and_the_body_kept(server: Any, version_a: Path) -> None:
    """curl --http2, Java's HttpClient and Ktor offer `Upgrade: h2c` on http://: the request
    is answered as HTTP/1.1 with its body (it was 400 "malformed JSON": httptools skipped it)."""
    curl = shutil.which("curl")
    assert curl is not None, "curl is part of the machine image"
    body = json.dumps(ROWS)
    expected_p, _ = direct(version_a, ROWS)
    done = subprocess.run(
        [
            curl,
            "-s",
            "-v",
            "--http2",
            f"{server.url}/v1/predict",
            "--data-binary",
            body,
            "-H",
            "content-type: application/json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Upgrade: h2c" in done.stderr  # the offer was made
    answer = json.loads(done.stdout)
    assert [p["probability"] for p in answer["predictions"]] == expected_p.tolist()
    # Java-style: chunked body, then a pipelined request on the same connection
    row = json.dumps(ROWS[0]).encode()
    chunked = hex(len(row))[2:].encode() + b"\r\n" + row + b"\r\n0\r\n\r\n"
    raw = exchange(
        server.port,
        b"POST /v1/predict HTTP/1.1\r\n"
        + JAVA_HEAD
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + chunked
        + b"POST /v1/predict HTTP/1.1\r\n"
        + JAVA_HEAD
        + f"Content-Length: {len(row)}\r\nConnection: close\r\n\r\n".encode()
        + row,
    )
    answers = responses(raw)
    assert [status for status, _, _ in answers] == [200, 200]
    assert {json.loads(body)["probability"] for _, _, body in answers} == {expected_p[0]}
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\n"
            b"Upgrade: h2c\r\n\r\n"
        )
        assert read_all(sock).startswith(b"HTTP/1.1 200 ")
