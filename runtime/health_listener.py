"""Liveness and readiness on a port of their own (TABSHIP_HEALTH_PORT), answered by a thread
with its own event loop, so that probes never queue behind the serving loop.

Why a thread: under a closed-loop flood of hundreds of connections, every turn of the serving
loop runs one callback per flooding connection (~400 at c=400) and a probe on the main port
needs about four turns (accept, read, answer): 250-340 ms p50 on a shared 2-core VM, however
cheap each request is made (bench/flood_trace.py, bench/README.md). This listener's loop only
ever holds probe connections; it needs the GIL for well under a millisecond per probe.

What it proves: a heartbeat callback on the serving loop (`Heartbeat`) must have run within
`stall_s`, else /healthz and /readyz answer 503 `stalled` (a hung loop fails liveness, as on the
main port it would time out). /readyz also says what the main port's /readyz says (503
`not_ready` while starting or draining). GET and HEAD only, one request per connection
(`Connection: close`, as probes do), the head within `header_timeout_s` and 8 KiB, at most
MAX_CONNECTIONS at once; every answer, refusals included, is JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from runtime.errors import RequestError
from runtime.http_protocol import json_response
from runtime.json_codec import render_json

log = logging.getLogger("tabship.serve")

BEAT_S = 0.1  # the serving loop's heartbeat period
MAX_HEAD_BYTES = 8192
MAX_CONNECTIONS = 64  # probes come one at a time; more is a misbehaving client
ROUTES = ("/healthz", "/readyz")


class Heartbeat:
    """Runs on the serving loop every BEAT_S; `age()` (any thread) is the time since it last
    ran: how long the loop has been stuck, give or take one turn."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self._handle: asyncio.TimerHandle | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.last = time.monotonic()
        self._handle = loop.call_later(BEAT_S, self._beat, loop)

    def _beat(self, loop: asyncio.AbstractEventLoop) -> None:
        self.last = time.monotonic()  # a float store: atomic for the reading thread
        self._handle = loop.call_later(BEAT_S, self._beat, loop)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def age(self) -> float:
        return time.monotonic() - self.last


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound in the caller's thread so that a taken port is reported
    at start-up (OSError)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class HealthListener:
    """`readiness()` returns the /readyz body or raises a RequestError (NotReady); `stall_s`
    bounds `heartbeat.age()`; `on_answer(route, method, status, seconds)` is called for each
    answer (in this thread: hand it to the serving loop yourself)."""

    def __init__(
        self,
        sock: socket.socket,
        heartbeat: Heartbeat,
        readiness: Callable[[], dict[str, Any]],
        stall_s: float,
        header_timeout_s: float,
        on_answer: Callable[[str, str, int, float], None] = lambda *args: None,
    ) -> None:
        self.sock = sock
        self.heartbeat = heartbeat
        self.readiness = readiness
        self.stall_s = stall_s
        self.header_timeout_s = header_timeout_s
        self.on_answer = on_answer
        self.port: int = sock.getsockname()[1]
        self._open = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tabship-health", daemon=True)
        self._thread.start()
        self._started.wait(10)

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # already stopping
                loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        server = loop.run_until_complete(
            asyncio.start_server(self._serve, sock=self.sock, limit=MAX_HEAD_BYTES)
        )
        self._started.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            loop.close()

    # -- one connection ---------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open += 1
        try:
            if self._open > MAX_CONNECTIONS:
                response = _error(503, "overloaded", "too many connections to the health port")
            else:
                response = await self._answer(reader)
            writer.write(response)
            async with asyncio.timeout(self.header_timeout_s):
                await writer.drain()
        except (OSError, TimeoutError):
            pass  # the client went away or does not read: nothing more to do
        finally:
            self._open -= 1
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader) -> bytes:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.header_timeout_s):
                head = await reader.readuntil(b"\r\n\r\n")
        except TimeoutError:
            return _error(
                408,
                "request_timeout",
                f"request head not received within {self.header_timeout_s:g} s",
            )
        except asyncio.LimitOverrunError:
            return _error(431, "bad_request", f"request head over {MAX_HEAD_BYTES} bytes")
        except asyncio.IncompleteReadError:
            return _error(400, "bad_request", "connection closed before the request head ended")
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            return _error(400, "bad_request", "malformed HTTP request line")
        method = parts[0].decode("latin-1")
        path = parts[1].split(b"?", 1)[0].decode("latin-1")
        if path not in ROUTES:
            return _error(404, "not_found", f"no route {path[:200]!r}; this port serves {ROUTES}")
        if method not in ("GET", "HEAD"):
            status, response = (
                405,
                _error(
                    405,
                    "method_not_allowed",
                    f"{method[:20]} is not allowed here",
                    {"allow": "GET"},
                ),
            )
        else:
            try:
                status, response = self._probe(path)
            except Exception:  # never a bare close: the prober gets a JSON 500, the log the rest
                log.exception("health port: unexpected error on %s", path)
                status, response = 500, _error(500, "internal", "internal error")
            if method == "HEAD":
                response = response.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
        self.on_answer(path, method, status, time.perf_counter() - started)
        return response

    def _probe(self, path: str) -> tuple[int, bytes]:
        stuck = self.heartbeat.age()
        if stuck > self.stall_s:
            return 503, _error(
                503, "stalled", f"the serving event loop has not run for {stuck:.1f} s"
            )
        if path == "/healthz":
            return 200, json_response(200, render_json({"status": "alive"}))
        try:
            return 200, json_response(200, render_json(self.readiness()))
        except RequestError as error:
            return error.status, json_response(error.status, render_json(error.body()))


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> bytes:
    body = render_json({"error": {"code": code, "message": message}})
    return json_response(status, body, headers)
