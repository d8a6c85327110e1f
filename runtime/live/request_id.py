"""Request ids for capture: a client's `X-Request-Id` (1 to 128 characters of letters, digits
and `._:-`) or one made here, kept for the request's rows and echoed in the answer's
`X-Request-Id` header, so the client can join its labels to the captured rows later. Installed
only when capture is on."""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tabship.runtime.live.tap import request_id

HEADER = b"x-request-id"
_VALID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == HEADER), None)
        value = given if given is not None and _VALID.fullmatch(given) else None
        rid = value.decode("ascii") if value is not None else uuid.uuid4().hex
        token = request_id.set(rid)

        async def send_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (HEADER, rid.encode("ascii"))]
            await send(message)

        try:
            await self.app(scope, receive, send_id)
        finally:
            request_id.reset(token)
