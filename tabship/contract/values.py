"""How one raw value becomes what the graph is fed.

Pure Python on purpose: the training pipeline (reading dirty extracts), the HTTP server, the
batch scorer and the parity gate all call these two functions, so a value means the same thing
everywhere. See docs/contract.md.
"""

from __future__ import annotations

import math
from typing import Any

MISSING_TEXT = ""


def category_text(value: Any) -> str:
    """Text form of a categorical value: integral numbers as decimal integers, None/NaN as ''."""
    if value is None:
        return MISSING_TEXT
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, int):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return MISSING_TEXT
    if math.isfinite(number) and number.is_integer():
        return str(int(number))
    return repr(number)


def number_value(value: Any) -> float:
    """float64 form of a numeric value; None, blank and text that is not a number become NaN."""
    if value is None or isinstance(value, bool):
        return math.nan
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return math.nan
        try:
            return float(text)
        except ValueError:
            return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
