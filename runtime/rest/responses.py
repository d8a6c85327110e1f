"""Starlette's response for tabship's JSON (runtime.json_codec.render_json)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from tabship.runtime.dataplane.json_codec import render_json


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return render_json(content)
