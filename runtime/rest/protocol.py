"""The HTTP/1.1 connection: uvicorn's httptools protocol (llhttp, a strict parser) with the
limits a public endpoint needs and uvicorn lacks.

- llhttp refuses a request with both Content-Length and Transfer-Encoding (RFC 9112 6.3),
  bare-LF line endings and obsolete line folding; this class also refuses any
  Transfer-Encoding other than `chunked`, and answers every refusal with a JSON body and
  `Connection: close`, then closes the connection.
- Deadlines: a request head must arrive whole within `header_timeout_s` of the connection
  opening or of its first byte; a body within `body_timeout_s` + a grace after the head (the app
  answers 408 itself at `body_timeout_s` when it is reading the body; this is the backstop for
  routes that answer without reading it). Idle keep-alive connections close after
  `keepalive_s`; one connection serves at most `keepalive_max_requests` requests.
- At most `max_connections` open connections: one more gets a JSON 503 and is closed at once.
- An `Upgrade` offer other than a websocket one (`Upgrade: h2c` from `curl --http2`, Java's
  HttpClient, Ktor) is ignored and the request answered as HTTP/1.1 (RFC 9110 7.8): httptools
  skips the body of any request that offers an upgrade, so the request is parsed again, from
  its head without the offer, and its body read as usual.
Every refusal is counted through `on_reject(reason)` (tabship_rejected_requests_total).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tabship.runtime.health_listener import error_response

# time the app gets past body_timeout_s to send its own 408 before the connection is cut
BODY_GRACE_S = 1.0
REASONS = ("too_many_connections", "header_timeout", "body_timeout", "bad_http")


@dataclass(frozen=True)
class Limits:
    header_timeout_s: float = 5.0
    body_timeout_s: float = 5.0
    max_connections: int = 1000
    keepalive_max_requests: int = 1000
    retry_after_s: int = 1
    on_reject: Callable[[str], None] = lambda reason: None
    # other worker processes of the same server (runtime/workers/shared.py): their open
    # connections count against max_connections, and this process publishes its own count
    connections_elsewhere: Callable[[], int] | None = None
    on_connections: Callable[[int], None] | None = None


class _Refused(Exception):
    """Raised from a parser callback to stop parsing: feed_data re-raises it wrapped."""


refusal = error_response  # the probe port's process answers refusals alike


class GuardedProtocol(HttpToolsProtocol):
    limits: ClassVar[Limits] = Limits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._in_message = False
        self._served = 0
        self._refusal: bytes | None = None
        self._ignored_upgrade = False

    @classmethod
    def with_limits(cls, limits: Limits) -> type[GuardedProtocol]:
        """A subclass bound to `limits` (uvicorn instantiates the class per connection)."""
        return type("GuardedProtocol", (cls,), {"limits": limits})

    # -- connection -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limits = self.limits
        open_here = len(self.connections)
        if limits.on_connections is not None:
            limits.on_connections(open_here)
        elsewhere = 0 if limits.connections_elsewhere is None else limits.connections_elsewhere()
        if open_here + elsewhere > limits.max_connections:
            limits.on_reject("too_many_connections")
            self._close_with(
                refusal(
                    503,
                    "overloaded",
                    f"more than {limits.max_connections} open connections; retry later",
                    {"retry-after": str(limits.retry_after_s)},
                )
            )
            return
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)
        if self.limits.on_connections is not None:
            self.limits.on_connections(len(self.connections))

    def _cancel_timers(self) -> None:
        for timer in (self._header_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._body_timer = None

    def _close_with(self, response: bytes) -> None:
        self._cancel_timers()
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()

    def _idle(self) -> bool:
        """No response being produced on this connection (nothing would interleave)."""
        return (self.cycle is None or self.cycle.response_complete) and not self.pipeline

    # -- deadlines --------------------------------------------------------------------------

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(
                self.limits.header_timeout_s, self._header_expired
            )

    def _header_expired(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        self.limits.on_reject("header_timeout")
        if self._idle():
            self._close_with(
                refusal(
                    408,
                    "request_timeout",
                    f"request head not received within {self.limits.header_timeout_s:g} s",
                )
            )
        else:  # a pipelined response is being produced: close once it is sent
            self.cycle.keep_alive = False
            self.flow.pause_reading()

    def _body_expired(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or not self._in_message:
            return
        self.limits.on_reject("body_timeout")
        if self._idle():
            self._close_with(
                refusal(
                    408,
                    "request_timeout",
                    f"request body not received within {self.limits.body_timeout_s:g} s",
                )
            )
        else:  # the app is still busy with this request and did not answer 408 itself
            self._cancel_timers()
            self.transport.close()

    # -- parsing ----------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if not self._in_message:
            self._arm_header_timer()
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as stopped:
            if self._ignored_upgrade:
                self._replay_without_upgrade(data[stopped.args[0] :])
            # else: a websocket upgrade, handled (or refused) by uvicorn's own protocol
        except httptools.HttpParserError as error:
            self._bad_request(error)

    def _replay_without_upgrade(self, rest: bytes) -> None:
        """The request whose head offered an upgrade, fed to a fresh parser without the offer,
        followed by what came after the head (its body, then any pipelined request)."""
        self._ignored_upgrade = False
        version = self.parser.get_http_version().encode()
        lines = [self.parser.get_method() + b" " + self.url + b" HTTP/" + version]
        for name, value in self.headers:
            if name in (b"upgrade", b"http2-settings"):
                continue
            if name == b"connection":
                kept = [
                    token.strip()
                    for token in value.split(b",")
                    if token.strip().lower() not in (b"upgrade", b"http2-settings", b"")
                ]
                if not kept:
                    continue
                value = b", ".join(kept)
            lines.append(name + b": " + value)
        self.parser = httptools.HttpRequestParser(self)
        self._feed(b"\r\n".join(lines) + b"\r\n\r\n" + rest)

    def _bad_request(self, error: Exception) -> None:
        self.limits.on_reject("bad_http")
        response = self._refusal or refusal(
            400, "bad_request", f"malformed HTTP request: {str(error)[:200]}"
        )
        if self._idle():
            self._close_with(response)
        else:  # never interleave with a response in progress: just stop here
            self._cancel_timers()
            self.transport.close()

    def on_message_begin(self) -> None:
        self._in_message = True
        self._arm_header_timer()
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        for name, value in self.headers:
            if name == b"transfer-encoding" and value.strip().lower() != b"chunked":
                self._refusal = refusal(
                    501,
                    "not_implemented",
                    "Transfer-Encoding other than 'chunked' is not supported",
                )
                raise _Refused
        if self.parser.should_upgrade() and not self._should_upgrade():
            # not a websocket: the offer is ignored, the request parsed again without it
            # (_replay_without_upgrade) once llhttp stops at the end of this head
            self._ignored_upgrade = True
            return
        self._served += 1
        super().on_headers_complete()
        if self._served >= self.limits.keepalive_max_requests and self.cycle is not None:
            self.cycle.keep_alive = False
        self._body_timer = self.loop.call_later(
            self.limits.body_timeout_s + BODY_GRACE_S, self._body_expired
        )

    def on_message_complete(self) -> None:
        if self._ignored_upgrade:
            return  # llhttp skipped the body; the replayed request completes
        self._in_message = False
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()
