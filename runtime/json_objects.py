"""JSON objects as request bodies read them: a key given twice is refused (422 naming it).

Python's json keeps the last of duplicate keys silently, so `{"Month": "nov", "Month": "feb"}`
would score "feb" while another parser (a proxy, a log pipeline, the client's own) reads
"nov". `unique_object` is the decoders' object_pairs_hook: it builds the dict and, only when
the dict came out shorter than its pairs, looks for the key to name.
"""

from __future__ import annotations

from typing import Any

from runtime.errors import RequestError


class DuplicateKey(RequestError):
    status = 422
    code = "duplicate_key"


def unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(f"key {key[:100]!r} appears twice in one JSON object")
            seen.add(key)
    return obj
