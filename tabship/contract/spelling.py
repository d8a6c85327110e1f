"""Category spelling: how raw text is matched to a canonical label.

Pure Python, shared by the training pipeline (training/contract/categories.py), the exporter
(export/converters/categories.py) and the server (runtime/model/schema.py counts unseen categories
with the same rules), so the three cannot drift apart.

The matching is defined by regular expressions that mean the same thing in Python's `re` and in
RE2 (onnxruntime's RegexFullMatch): ASCII whitespace, ASCII case folding spelled out as
character classes, escaped metacharacters. The pipeline and the ONNX graph run the very same
pattern strings, so they cannot disagree on which bucket a spelling falls in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

WHITESPACE = " \t\n\r\f\v"
_WS = r"[ \t\n\r\f\v]*"
_META = set(r"\.^$|?*+()[]{}")
# At most 15 significant digits: every such code is exact as a float64, which lets the graph
# compare codes as numbers (one Cast and one Equal) instead of one regex per label.
_INTEGER_CODE = re.compile(r"\+?0*([0-9]{1,15})(?:\.0*)?")
INTEGER_CODE_PATTERN = rf"{_WS}{_INTEGER_CODE.pattern}{_WS}"
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

MISSING_PATTERN = _WS
UNKNOWN = "__unknown__"
MISSING = "__missing__"


def canonical_label(text: str, aliases: Mapping[str, str], integer_codes: bool) -> str | None:
    """The label a training value is learned under; None for missing, UNKNOWN if unusable."""
    stripped = text.strip(WHITESPACE)
    if not stripped:
        return None
    if integer_codes:
        match = _INTEGER_CODE.fullmatch(stripped)
        return str(int(match.group(1))) if match else UNKNOWN
    lowered = stripped.translate(ASCII_LOWER)
    return aliases.get(lowered, lowered)


def _literal(text: str) -> str:
    out = []
    for char in text:
        if char.isascii() and char.isalpha():
            out.append(f"[{char.lower()}{char.upper()}]")
        elif char in _META:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def spellings(label: str, aliases: Mapping[str, str]) -> list[str]:
    return [label, *sorted(a for a, target in aliases.items() if target == label and a)]


def label_pattern(label: str, aliases: Mapping[str, str], integer_codes: bool) -> str:
    """A full-match pattern accepting every spelling of `label`."""
    if integer_codes:
        return rf"{_WS}\+?0*{label}(?:\.0*)?{_WS}"
    return f"{_WS}(?:{'|'.join(_literal(s) for s in spellings(label, aliases))}){_WS}"


def shared_spelling(labels: Iterable[str], aliases: Mapping[str, str]) -> str | None:
    """A spelling two labels' patterns would both accept, if any.

    The graph one-hot encodes each label's match directly, which is only right when no text
    can match two labels; an alias chain such as {"a": "b", "b": "c"} would break that.
    (Integer codes are distinct numbers, so their patterns never overlap.)
    """
    owner: dict[str, str] = {}
    for label in labels:
        for spelling in spellings(label, aliases):
            key = spelling.translate(ASCII_LOWER)
            if owner.setdefault(key, label) != label:
                return spelling
    return None


def learn_labels(
    values: Iterable[str], aliases: Mapping[str, str], integer_codes: bool
) -> list[str]:
    labels = {canonical_label(v, aliases, integer_codes) for v in set(values)}
    return sorted(label for label in labels if label is not None and label != UNKNOWN)


def match_index(text: str, compiled: list[re.Pattern[str]], missing: re.Pattern[str]) -> int:
    """Index of the first matching label; -1 for unknown, -2 for missing."""
    for index, pattern in enumerate(compiled):
        if pattern.fullmatch(text):
            return index
    return -2 if missing.fullmatch(text) else -1
