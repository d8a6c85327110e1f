"""What a raw value must look like to be fed, and the reason (with a stable code) when not.

runtime/model/schema.py applies these rules to every request; clients/node/src/rules.js is generated
from this module (scripts/node_rules.py) so the Node consumer refuses the same values with the
same reasons. docs/contract.md explains them.
"""

from __future__ import annotations

import re

from tabship.contract.spelling import MISSING_PATTERN, WHITESPACE

# Blank text (ASCII whitespace only) is a missing value, exactly as the graph's missing bucket.
BLANK_TEXT = MISSING_PATTERN
NOT_BLANK = "[^ \\t\\n\\r\\f\\v]"
# Numeric text a server accepts: what Python's float() reads, restricted to ASCII decimal
# notation small enough to stay finite (no "inf", "nan", "1_000", hex or non-ASCII digits).
NUMERIC_TEXT = (
    f"{BLANK_TEXT}[+-]?(?:[0-9]{{1,200}}(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][+-]?[0-9]{{1,2}})?"
    f"{BLANK_TEXT}"
)
# Longest categorical text (in code points) when a manifest input names no max_length; the
# exporter writes it into every categorical input.
MAX_TEXT_LENGTH = 256
# How many characters of a refused text a reason quotes.
SHOWN_CHARACTERS = 40

# code -> reason (a str.format template). Servers and clients say the same words; the code is
# what a program matches on.
REASONS = {
    "missing_column": "missing column (send null for a missing value)",
    "not_finite": "not a finite number",
    "null_not_nullable": "null, and the column is not nullable",
    "blank_not_nullable": "blank, and the column is not nullable",
    "missing_not_nullable": "missing, and the column is not nullable",
    "not_a_number": "{shown} is not a number",
    "boolean_not_number": "a boolean is not a number",
    "expected_number": "expected a number, got {json_type}",
    "too_long": "text of {length} characters is longer than max_length {max_length}",
    "lone_surrogate": "text is not valid Unicode (lone surrogate)",
    "nul_character": "text contains a NUL character",
    "expected_category": "expected text, a number, a boolean or null, got {json_type}",
    "not_an_object": "a row must be a JSON object, got {json_type}",
    "unknown_column": "unknown column (this model does not read it)",
    "outside_domain": (
        "{value} is outside [{minimum}, {maximum}], the values the fitted pipeline can score"
    ),
    "unknown_category": (
        "{shown} is not a category the fitted pipeline knows (its encoder refuses unknown ones)"
    ),
}
MISSING_COLUMN = REASONS["missing_column"]

__all__ = [
    "BLANK_TEXT",
    "MAX_TEXT_LENGTH",
    "MISSING_COLUMN",
    "NOT_BLANK",
    "NUMERIC_TEXT",
    "REASONS",
    "SHOWN_CHARACTERS",
    "WHITESPACE",
]


def reason(code: str, **values: object) -> str:
    return REASONS[code].format(**values)


def _template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{\w+\}", template)
    return re.compile(".*".join(re.escape(part) for part in parts), re.DOTALL)


_CODES = [(code, _template_pattern(text)) for code, text in REASONS.items()]


def reason_code(text: str) -> str:
    """The REASONS code whose template produced `text` (the most specific one that fits)."""
    codes = [code for code, pattern in _CODES if pattern.fullmatch(text)]
    if not codes:
        raise ValueError(f"no reason code produces {text!r}")
    return max(codes, key=lambda code: len(REASONS[code]))
