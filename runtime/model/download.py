"""Bytes from a local path or an http(s):// URL, under a byte cap and time limits.

Local: only regular files are opened (a FIFO, device or socket is refused by name before any
open, so nothing blocks), and the read stops one byte past the cap whatever stat said.
HTTP: redirects stay on the same scheme, host and port unless the target host is allowed by
TABSHIP_FETCH_REDIRECT_HOSTS (never to another scheme than http(s), never https -> http); a
read timeout, a minimum transfer rate, and a deadline for the whole download that holds
however the server trickles (a watchdog shuts the socket down when it passes).
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import stat
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import SplitResult, urljoin, urlsplit

from tabship.runtime.dataplane.errors import MissingFile, ModelRefused

MAX_REDIRECTS = 5
_CHUNK = 1 << 20
_DEFAULT_PORTS = {"http": 80, "https": 443}


# --- local files ----------------------------------------------------------------------------


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _not_regular(path: Path, mode: int) -> ModelRefused:
    shown = str(path)
    if path.is_symlink():
        shown += f" (a link to {os.path.realpath(path)})"
    return ModelRefused(f"{shown}: is {_kind(mode)}, not a regular file; only files are read")


def read_local(path: Path, max_bytes: int) -> bytes:
    """The file's bytes; refuses anything but a regular file, and more than max_bytes."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise MissingFile(f"{path}: no such file") from None
    except OSError as error:
        raise ModelRefused(f"{path}: cannot read ({error.strerror or error})") from None
    if not stat.S_ISREG(mode):
        raise _not_regular(path, mode)
    try:
        # O_NONBLOCK: if a FIFO was swapped in since the stat, opening it does not wait for a
        # writer (fstat below then refuses it); it changes nothing for a regular file.
        descriptor = os.open(
            path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | os.O_CLOEXEC
        )
    except FileNotFoundError:
        raise MissingFile(f"{path}: no such file") from None
    except OSError as error:
        raise ModelRefused(f"{path}: cannot read ({error.strerror or error})") from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise _not_regular(path, info.st_mode)
        if info.st_size > max_bytes:
            raise ModelRefused(f"{path}: {info.st_size} bytes is over the cap of {max_bytes}")
        # Never more than one byte past the cap, whatever st_size said (files in /proc say 0,
        # a file can grow while it is read). One read usually returns the whole file.
        limit = max_bytes + 1
        chunks: list[bytes] = []
        total = 0
        want = max(info.st_size + 1, 1 << 16)
        while total < limit:
            piece = os.read(descriptor, min(want, limit - total))
            if not piece:
                break
            chunks.append(piece)
            total += len(piece)
        if total > max_bytes:
            raise ModelRefused(f"{path}: more than the cap of {max_bytes} bytes")
        return b"".join(chunks)
    except OSError as error:
        raise ModelRefused(f"{path}: cannot read ({error.strerror or error})") from None
    finally:
        os.close(descriptor)


# --- http(s) --------------------------------------------------------------------------------


def _origin(parts: SplitResult) -> tuple[str, str, int | None]:
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def host_allowed(host: str, port: int | None, allowed: Sequence[str]) -> bool:
    """`allowed` entries: "name" (any port), "name:port", "*.domain" (its subdomains), an
    IPv6 address in brackets ("[::1]", "[::1]:8443")."""
    for entry in allowed:
        name, colon, port_text = entry.lower().rpartition(":")
        if not colon or not port_text.isdigit() or (name.count(":") and "]" not in name):
            name, port_text = entry.lower(), ""
        if port_text and int(port_text) != port:
            continue
        name = name.strip("[]")
        if name.startswith("*."):
            if host.endswith(name[1:]) and len(host) > len(name) - 1:
                return True
        elif host == name:
            return True
    return False


def redirect_refusal(current: str, target: str, allowed: Sequence[str]) -> str | None:
    """Why a redirect from `current` to `target` is not followed, or None when it is."""
    here, there = _origin(urlsplit(current)), _origin(urlsplit(target))
    if there[0] not in _DEFAULT_PORTS:
        return f"redirect to a {there[0] or 'relative'}:// URL refused (only http and https)"
    if there == here:
        return None
    shown = f"{there[0]}://{there[1]}" + (f":{there[2]}" if there[2] is not None else "")
    if here[0] == "https" and there[0] == "http":
        return f"redirect from https to {shown} refused (never to plain http)"
    if host_allowed(there[1], there[2], allowed):
        return None
    return (
        f"redirect to {shown} refused: only the same scheme, host and port are followed "
        "(TABSHIP_FETCH_REDIRECT_HOSTS names other hosts to allow)"
    )


class _Watchdog:
    """Shuts a socket down when the deadline passes, which ends any blocking read on it at
    once: per-read timeouts alone let a server that trickles a byte at a time go on forever."""

    def __init__(self, seconds: float, sock: socket.socket) -> None:
        self.fired = False
        self._sock = sock
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def cancel(self) -> None:
        self._timer.cancel()


def fetch_url(
    url: str,
    max_bytes: int,
    *,
    connect_timeout_s: float = 5.0,
    read_timeout_s: float = 30.0,
    timeout_s: float = 300.0,
    min_bytes_per_s: int = 0,
    redirect_hosts: Sequence[str] = (),
) -> bytes:
    """GET `url` (following allowed redirects): refused past max_bytes, past timeout_s for the
    whole download (connection, redirects, headers and body), when one read waits longer than
    read_timeout_s, or when fewer than min_bytes_per_s arrive on average over any
    read_timeout_s-long stretch of the body."""
    started = time.monotonic()
    deadline = started + timeout_s
    shown = url.split("?", 1)[0]  # never log a presigned URL's signature

    def too_slow() -> ModelRefused:
        return ModelRefused(
            f"{shown}: download took longer than {timeout_s:g} s (TABSHIP_FETCH_TIMEOUT_S)"
        )

    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        host = parts.hostname or ""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise too_slow()
        connect_timeout = min(connect_timeout_s, remaining)
        connection: http.client.HTTPConnection
        if parts.scheme.lower() == "https":
            connection = http.client.HTTPSConnection(
                host, parts.port, timeout=connect_timeout, context=ssl.create_default_context()
            )
        else:
            connection = http.client.HTTPConnection(host, parts.port, timeout=connect_timeout)
        response: http.client.HTTPResponse | None = None
        watchdog: _Watchdog | None = None
        try:
            connection.connect()
            assert connection.sock is not None
            watchdog = _Watchdog(deadline - time.monotonic(), connection.sock)
            connection.sock.settimeout(read_timeout_s)
            target = parts.path or "/"
            if parts.query:
                target += "?" + parts.query
            connection.request("GET", target, headers={"User-Agent": "tabship-serve"})
            response = connection.getresponse()
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                if not location:
                    raise ModelRefused(f"{shown}: redirect without Location")
                following = urljoin(url, location)
                refusal = redirect_refusal(url, following, redirect_hosts)
                if refusal is not None:
                    raise ModelRefused(f"{shown}: {refusal}")
                url = following
                continue
            if response.status in (404, 410):
                raise MissingFile(f"{shown}: HTTP {response.status} {response.reason}")
            if response.status != 200:
                raise ModelRefused(f"{shown}: HTTP {response.status} {response.reason}")
            declared = response.getheader("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise ModelRefused(f"{shown}: {declared} bytes is over the cap of {max_bytes}")
            data = _read_body(response, max_bytes, read_timeout_s, min_bytes_per_s, shown)
            if watchdog.fired:  # the shutdown can look like the end of the body
                raise too_slow()
            if declared is not None and declared.isdigit() and int(declared) != len(data):
                raise ModelRefused(
                    f"{shown}: connection closed after {len(data)} of {declared} bytes"
                )
            return data
        except ModelRefused:
            if watchdog is not None and watchdog.fired:
                raise too_slow() from None
            raise
        except (OSError, http.client.HTTPException, ValueError) as error:
            if watchdog is not None and watchdog.fired:
                raise too_slow() from None
            raise ModelRefused(
                f"{shown}: download failed ({type(error).__name__}: {error})"
            ) from None
        finally:
            if watchdog is not None:
                watchdog.cancel()
            if response is not None:
                response.close()
            connection.close()
    raise ModelRefused(f"{shown}: more than {MAX_REDIRECTS} redirects")


def _read_body(
    response: http.client.HTTPResponse,
    max_bytes: int,
    window_s: float,
    min_bytes_per_s: int,
    shown: str,
) -> bytes:
    chunks: list[bytes] = []
    total = 0
    mark_time, mark_total = time.monotonic(), 0
    while True:
        # read1: returns what one receive brings, so the checks below run as bytes trickle in
        chunk = response.read1(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes:
            raise ModelRefused(f"{shown}: more than the cap of {max_bytes} bytes")
        chunks.append(chunk)
        now = time.monotonic()
        if min_bytes_per_s and now - mark_time >= window_s:
            rate = (total - mark_total) / (now - mark_time)
            if rate < min_bytes_per_s:
                raise ModelRefused(
                    f"{shown}: download too slow ({rate:.0f} B/s over {now - mark_time:.1f} s, "
                    f"the minimum is {min_bytes_per_s} B/s: TABSHIP_FETCH_MIN_BYTES_PER_S)"
                )
            mark_time, mark_total = now, total
