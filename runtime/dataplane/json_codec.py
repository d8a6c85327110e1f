"""JSON as tabship reads request bodies and writes answers, with no web framework.

Reading: a key given twice is refused (422 naming it), NaN/Infinity literals are refused,
bad UTF-8 and malformed JSON are a 400 (`decode_json`, /v1/predict; the OIP body reader,
runtime.oip_body, shares `unique_object` and accepts NaN as a missing value).

Python's json keeps the last of duplicate keys silently, so `{"Month": "nov", "Month": "feb"}`
would score "feb" while another parser (a proxy, a log pipeline, the client's own) reads
"nov". `unique_object` is the decoders' object_pairs_hook: it builds the dict and, only when
the dict came out shorter than its pairs, looks for the key to name.
"""

from __future__ import annotations

import json
from typing import Any

from tabship.runtime.dataplane.errors import BadRequest, DuplicateKey


def unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(f"key {key[:100]!r} appears twice in one JSON object")
            seen.add(key)
    return obj


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


DECODER = json.JSONDecoder(parse_constant=_refuse_constant, object_pairs_hook=unique_object)
# ASCII-escaped (lone surrogates from a request cannot break encoding), compact, NaN refused
# at the source
_encoder = json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def decode_json(body: bytes) -> Any:
    try:
        return DECODER.decode(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("body is not UTF-8 text") from None
    except (ValueError, RecursionError) as error:
        raise BadRequest(f"malformed JSON: {str(error)[:200]}") from None


def render_json(content: Any) -> bytes:
    return _encoder.encode(content).encode("ascii")
