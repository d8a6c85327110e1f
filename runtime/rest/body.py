"""Request bodies over HTTP (Starlette) for the data plane: the chunks as they arrive, under
the body limit and deadline the plane applies, and the Content-Type rule of /v1/predict."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request

from tabship.runtime.dataplane.errors import BadRequest, UnsupportedMediaType
from tabship.runtime.dataplane.plane import DataPlane


async def read_body(request: Request, plane: DataPlane) -> bytes:
    try:
        return await plane.receive_body(request.stream(), request.headers.get("content-length"))
    except ClientDisconnect:
        raise BadRequest("client disconnected before sending the whole body") from None


def require_json(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, got {content_type[:100]!r}"
        )
