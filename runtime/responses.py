"""JSON responses that never fail to render: ASCII-escaped (lone surrogates from a request
cannot break encoding), compact, NaN refused at the source."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

_encoder = json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def render_json(content: Any) -> bytes:
    return _encoder.encode(content).encode("ascii")


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return render_json(content)
