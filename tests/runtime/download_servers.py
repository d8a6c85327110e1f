"""Small HTTP servers on loopback addresses for the download tests: a file server, a
redirector, and a raw-socket server that trickles its answer."""

from __future__ import annotations

import http.server
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        # /moved/X answers 302 to /X: a redirect that stays on the same origin
        if self.path.startswith("/moved/"):
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/moved"))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()


@contextmanager
def _serve(server: socketserver.BaseServer) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def file_server(root: Path, host: str = "127.0.0.1") -> Iterator[str]:
    """Serves the files under `root` (and redirects /moved/X to /X); yields its base URL."""

    def handler(*args: Any, **kwargs: Any) -> _Quiet:
        return _Quiet(*args, directory=str(root), **kwargs)

    httpd = http.server.ThreadingHTTPServer((host, 0), handler)
    with _serve(httpd):
        yield f"http://{host}:{httpd.server_address[1]}"


@contextmanager
def redirector(target: Callable[[str], str], host: str = "127.0.0.1") -> Iterator[str]:
    """Answers every GET with a 302 to target(path); yields its base URL."""

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", target(self.path))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer((host, 0), Redirect)
    with _serve(httpd):
        yield f"http://{host}:{httpd.server_address[1]}"


@contextmanager
def trickler(
    *,
    piece: int = 1000,
    every_s: float = 0.9,
    declared: int = 10_000_000,
    sent_in_all: int | None = None,
    head_byte_every_s: float = 0.0,
) -> Iterator[str]:
    """A server whose answer never ends in time: `piece` bytes every `every_s` seconds of a
    body of `declared` bytes (closing after `sent_in_all` if given), or (head_byte_every_s > 0)
    its status line and headers one byte at a time. Yields its base URL."""
    stop = threading.Event()

    class Trickle(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            connection: socket.socket = self.request
            connection.settimeout(5)
            try:
                connection.recv(65536)  # the request head (small, one segment)
                head = (
                    f"HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\n"
                    "Content-Type: application/octet-stream\r\n\r\n"
                ).encode()
                if head_byte_every_s:
                    for byte in head:
                        if stop.wait(head_byte_every_s):
                            return
                        connection.sendall(bytes([byte]))
                else:
                    connection.sendall(head)
                sent = 0
                end = declared if sent_in_all is None else sent_in_all
                while sent < end and not stop.wait(every_s):
                    connection.sendall(b"\0" * piece)
                    sent += piece
            except OSError:  # the client gave up: what the tests want
                return

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", 0), Trickle)
    with _serve(server):
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            stop.set()


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.monotonic()
    try:
        result: Any = action()
    except Exception as error:  # the tests look at what was raised
        result = error
    return time.monotonic() - started, result
