"""Request bodies over HTTP (Starlette) for the data plane: the chunks as they arrive (the
plane applies the body limit and deadline), and the Content-Type rule of /v1/predict."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect, Request

from tabship.runtime.dataplane.errors import BadRequest, UnsupportedMediaType


async def chunks(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect:
        raise BadRequest("client disconnected before sending the whole body") from None


def require_json(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, got {content_type[:100]!r}"
        )
