"""Liveness and readiness on a port of their own (TABSHIP_HEALTH_PORT), answered by a small
process of their own, so that probes never queue behind the serving event loop nor wait for the
serving process's GIL.

Why: under a closed-loop flood of hundreds of connections, every turn of the serving loop runs
one callback per flooding connection (~400 at c=400) and a probe on the main port needs about
four turns: 250-340 ms p50 on a shared 2-core VM, however cheap each request is made
(bench/flood_trace.py). A listener thread in the serving process answered in p95 27-30 ms (the
GIL shared with the loop and the prep thread); this process in p95 6-8 ms, like a trivial
process under the same flood (bench/README.md).

How: the server binds the port (a taken port stops it at start-up) and starts
`python -m runtime.health_listener SOCKET_FD STATE_FD STALL_S HEADER_TIMEOUT_S` with both file
descriptors. A heartbeat on the serving loop (`HealthProcess`) writes one state line every
BEAT_S: the status and JSON body /readyz has on the main port. The process answers /healthz 200
and /readyz with the last line while a line arrived within STALL_S, else both 503 `stalled`
(a hung serving loop fails liveness, as on the main port it would time out); end of file (the
server exited, however) ends it. GET and HEAD only, one request per connection
(`Connection: close`, as probes do), the head within HEADER_TIMEOUT_S and 8 KiB, at most
MAX_CONNECTIONS at once; every answer, refusals included, is JSON. Standard library only: the
process takes ~20 MB RSS.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http import HTTPStatus

log = logging.getLogger("tabship.serve")

BEAT_S = 0.1  # the serving loop's heartbeat period
MAX_HEAD_BYTES = 8192
# a process that neither comes up nor dies within this fails start-up instead of hanging it
START_TIMEOUT_S = 30.0
MAX_CONNECTIONS = 64  # probes come one at a time; more is a misbehaving client
ROUTES = ("/healthz", "/readyz")
ALIVE = b'{"status":"alive"}'
# a state line `stalled MESSAGE`: both routes answer 503 `stalled` (runtime/workers/supervisor.py)
STALLED = b"stalled"
STARTING = b'503 {"error":{"code":"not_ready","message":"not ready"}}'


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound in the server so that a taken port is reported at start-up
    (OSError)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def response(status: int, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    phrase = HTTPStatus(status).phrase
    head = [f"HTTP/1.1 {status} {phrase}"]
    fields = {"content-type": "application/json", "content-length": str(len(body))}
    fields.update(headers or {})
    fields["connection"] = "close"
    head += [f"{name}: {value}" for name, value in fields.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> bytes:
    """A JSON refusal as a whole response (also runtime/rest/protocol.py's, on the main port)."""
    body = json.dumps({"error": {"code": code, "message": message}}, separators=(",", ":"))
    return response(status, body.encode("ascii"), headers)


# -- the server's side ------------------------------------------------------------------------


class Heartbeat:
    """Writes the serving loop's state line to a pipe every BEAT_S: `readiness()` gives the
    status and JSON body of /readyz, called on the serving loop. The pipe leads to the probe
    port's process (HealthProcess) or, in a worker of `tabship serve --workers N`, to the
    supervisor (runtime/workers/), which answers the probes for all workers; `on_gone` is called
    once when the reader has gone away."""

    def __init__(
        self,
        state_fd: int | None,
        readiness: Callable[[], tuple[int, bytes]],
        on_gone: Callable[[], None] | None = None,
    ) -> None:
        self._state_fd = state_fd
        self._readiness = readiness
        self._on_gone = on_gone
        self._handle: asyncio.TimerHandle | None = None
        self._last = b""
        if state_fd is not None:
            os.set_blocking(state_fd, False)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._beat(loop)

    def _beat(self, loop: asyncio.AbstractEventLoop) -> None:
        self.beat()
        self._handle = loop.call_later(BEAT_S, self._beat, loop)

    def beat(self) -> None:
        """Sends the state line now."""
        status, body = self._readiness()
        self.write(b"%d %s\n" % (status, body))

    def write(self, line: bytes) -> None:
        if self._state_fd is None:
            return
        try:
            os.write(self._state_fd, line)
        except BlockingIOError:
            pass  # the reader is not reading: it will answer `stalled`
        except OSError:  # it is gone: the probes fail, which is the truth
            if self._last:
                log.error("the health port's process exited")
            self._last = b""
            if self._on_gone is not None:
                on_gone, self._on_gone = self._on_gone, None
                on_gone()
        else:
            self._last = line

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._state_fd is not None:
            os.close(self._state_fd)  # end of file: the reader knows this end is gone
            self._state_fd = None


class HealthProcess(Heartbeat):
    """Starts the listener process on `sock` and feeds it the heartbeat (Heartbeat)."""

    def __init__(
        self,
        sock: socket.socket,
        readiness: Callable[[], tuple[int, bytes]],
        stall_s: float,
        header_timeout_s: float,
    ) -> None:
        super().__init__(None, readiness)
        self.port: int = sock.getsockname()[1]
        self._sock = sock
        self._stall_s = stall_s
        self._header_timeout_s = header_timeout_s
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Raises OSError when the process cannot be started or does not come up."""
        self.launch()
        super().start(loop)

    def launch(self) -> None:
        """Starts the process (no heartbeat yet: `beat` or `write` send the state lines)."""
        state_read, state_write = os.pipe()
        try:
            fds = (self._sock.fileno(), state_read)
            timings = (self._stall_s, self._header_timeout_s)
            self._process = subprocess.Popen(
                [sys.executable, "-m", "tabship.runtime.health_listener", *map(str, fds + timings)],
                pass_fds=fds,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            )
        finally:
            os.close(state_read)
            self._sock.close()  # the process holds it now
        os.set_blocking(state_write, False)
        self._state_fd = state_write
        assert self._process.stdout is not None
        started, _, _ = select.select([self._process.stdout], [], [], START_TIMEOUT_S)
        if not started or self._process.stdout.readline() != b"listening\n":  # serves from here on
            self.stop()
            raise OSError(
                f"the health port's process did not start within {START_TIMEOUT_S:g} s"
                if not started
                else "the health port's process did not start"
            )

    def stop(self) -> None:
        super().stop()
        if self._process is not None:
            try:
                self._process.wait(2)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None


# -- the listener process ---------------------------------------------------------------------


class Listener:
    """The listener's state and its answers (runs in the health process)."""

    def __init__(self, stall_s: float, header_timeout_s: float) -> None:
        self.stall_s = stall_s
        self.header_timeout_s = header_timeout_s
        self.beat = time.monotonic()
        self.ready = STARTING
        self._open = 0

    def read_state(self, fd: int) -> None:
        """In a thread: each line from the server is a heartbeat and /readyz's answer; end of
        file means the server is gone, and so is this process."""
        with os.fdopen(fd, "rb") as lines:
            for line in lines:
                self.ready = line.rstrip(b"\n")  # one reference store: atomic for the loop
                self.beat = time.monotonic()
        os._exit(0)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open += 1
        try:
            if self._open > MAX_CONNECTIONS:
                answer = error_response(
                    503, "overloaded", "too many connections to the health port"
                )
            else:
                try:
                    answer = await self._answer(reader)
                except Exception:  # never a bare close: the prober gets a JSON 500
                    log.exception("health port: unexpected error")
                    answer = error_response(500, "internal", "internal error")
            writer.write(answer)
            async with asyncio.timeout(self.header_timeout_s):
                await writer.drain()
        except (OSError, TimeoutError):
            pass  # the client went away or does not read: nothing more to do
        finally:
            self._open -= 1
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader) -> bytes:
        try:
            async with asyncio.timeout(self.header_timeout_s):
                head = await reader.readuntil(b"\r\n\r\n")
        except TimeoutError:
            return error_response(
                408,
                "request_timeout",
                f"request head not received within {self.header_timeout_s:g} s",
            )
        except asyncio.LimitOverrunError:
            return error_response(431, "bad_request", f"request head over {MAX_HEAD_BYTES} bytes")
        except asyncio.IncompleteReadError:
            return error_response(
                400, "bad_request", "connection closed before the request head ended"
            )
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            return error_response(400, "bad_request", "malformed HTTP request line")
        method = parts[0].decode("latin-1")
        path = parts[1].split(b"?", 1)[0].decode("latin-1")
        if path not in ROUTES:
            return error_response(
                404, "not_found", f"no route {path[:200]!r}; this port serves {ROUTES}"
            )
        if method not in ("GET", "HEAD"):
            return error_response(
                405, "method_not_allowed", f"{method[:20]} is not allowed here", {"allow": "GET"}
            )
        answer = self._probe(path)
        return answer.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n" if method == "HEAD" else answer

    def _probe(self, path: str) -> bytes:
        stuck = time.monotonic() - self.beat
        if stuck > self.stall_s:
            return error_response(
                503, "stalled", f"the serving event loop has not run for {stuck:.1f} s"
            )
        status, _, body = self.ready.partition(b" ")
        if status == STALLED:  # the supervisor's word: one of its workers stopped beating
            return error_response(503, "stalled", body.decode("utf-8", "replace"))
        if path == "/healthz":
            return response(200, ALIVE)
        return response(int(status), body)


async def _main(sock: socket.socket, listener: Listener) -> None:
    server = await asyncio.start_server(listener.serve, sock=sock, limit=MAX_HEAD_BYTES)
    sys.stdout.write("listening\n")  # the server waits for this line
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> None:
    sock_fd, state_fd = int(argv[0]), int(argv[1])
    # the server decides when this ends (end of file on the state pipe): a terminal's Ctrl-C or a
    # signal to the process group must not take the probes down while it drains
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    listener = Listener(stall_s=float(argv[2]), header_timeout_s=float(argv[3]))
    threading.Thread(target=listener.read_state, args=(state_fd,), daemon=True).start()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(socket.socket(fileno=sock_fd), listener))


if __name__ == "__main__":
    main(sys.argv[1:])
