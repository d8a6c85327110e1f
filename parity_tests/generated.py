"""Generated rows inside and beyond the observed ranges, built column by column with numpy.

Each column draws its cells independently from a mixture of kinds (plausible values, values seen
in training, values beyond the range, missing, numbers as text, odd spellings), so the cost is
linear in rows x columns and the set has the same shape on a 10- or a 500-column table. Half the
rows are plausible in every column (so tree paths through realistic combinations are exercised);
the other half mix in the odd kinds. The seed is fixed: the same rows on every run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

SEED = 20261202
DEFAULT_ROWS = 2000
_ODD_NUMBER_TEXT = ["", "n/a", " 1e3 ", "-0", "1,5", "+2", " ", "nan"]
_BEYOND = [np.inf, -np.inf, np.nan, 1e308, -1e308, 5e-324, -0.0, 0.0, -1.0, 1e15]
_PADDING = ["", " ", "\t", "  ", "\n"]
_ODD_TEXT = ["", " ", "NULL", "n/a", "?", "never-seen-value", "Ünïcödé", "x" * 40]

Drawer = Callable[[np.random.Generator, int], np.ndarray]


def _observed(train: pd.DataFrame | None, column: str) -> np.ndarray:
    if train is None or column not in train:
        return np.array([], dtype=object)
    values = train[column].dropna().to_numpy(dtype=object)
    return values[:50_000]


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return repr(float(value))
    except (TypeError, ValueError):
        return str(value)


def _numeric_drawers(spec: dict[str, Any], observed: np.ndarray) -> tuple[Drawer, list[Drawer]]:
    found = spec.get("range") or {}
    low, high = found.get("min"), found.get("max")
    if low is None or high is None:
        low, high = 0.0, 1.0

    def inside(rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(low, high, n) if high > low else np.full(n, float(low))

    def seen(rng: np.random.Generator, n: int) -> np.ndarray:
        # Training values are where hist splits sit: the most likely rows to sit on a threshold.
        return rng.choice(observed, n) if len(observed) else inside(rng, n)

    def plausible(rng: np.random.Generator, n: int) -> np.ndarray:
        return np.where(rng.random(n) < 0.5, inside(rng, n).astype(object), seen(rng, n))

    def beyond(rng: np.random.Generator, n: int) -> np.ndarray:
        spread = max(abs(low), abs(high), 1.0)
        wide = rng.uniform(low - 10 * spread, high + 10 * spread, n).astype(object)
        return np.where(rng.random(n) < 0.5, wide, rng.choice(np.array(_BEYOND, object), n))

    def missing(rng: np.random.Generator, n: int) -> np.ndarray:
        return np.full(n, None, dtype=object)

    def as_text(rng: np.random.Generator, n: int) -> np.ndarray:
        # Training cells may already be dirty text (e.g. "-"): those stay as they were.
        return np.array([_as_text(v) for v in plausible(rng, n)], dtype=object)

    def odd_text(rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.choice(np.array(_ODD_NUMBER_TEXT, dtype=object), n)

    return plausible, [beyond, missing, as_text, odd_text]


def _spelled(rng: np.random.Generator, labels: np.ndarray, n: int) -> np.ndarray:
    picked = rng.choice(labels, n)
    case = rng.integers(0, 4, n)
    left = rng.choice(np.array(_PADDING, dtype=object), n)
    right = rng.choice(np.array(_PADDING, dtype=object), n)
    out = np.empty(n, dtype=object)
    for i, (label, how) in enumerate(zip(picked, case, strict=True)):
        text = (label, label.upper(), label.title(), label.swapcase())[how]
        out[i] = f"{left[i]}{text}{right[i]}"
    return out


def _categorical_drawers(spec: dict[str, Any], observed: np.ndarray) -> tuple[Drawer, list[Drawer]]:
    labels = np.array(spec.get("categories") or ["x"], dtype=object)
    aliases = np.array(sorted(spec.get("aliases") or {}), dtype=object)

    def plausible(rng: np.random.Generator, n: int) -> np.ndarray:
        if len(observed) and rng.random() < 0.5:
            return rng.choice(observed, n)
        return rng.choice(labels, n)

    def spelled(rng: np.random.Generator, n: int) -> np.ndarray:
        pool = np.concatenate([labels, aliases]) if len(aliases) else labels
        return _spelled(rng, pool, n)

    def missing(rng: np.random.Generator, n: int) -> np.ndarray:
        return np.where(rng.random(n) < 0.5, None, np.nan).astype(object)

    def odd(rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.choice(np.array(_ODD_TEXT, dtype=object), n)

    odd_kinds: list[Drawer] = [spelled, missing, odd]
    if spec.get("integer_codes"):

        def codes(rng: np.random.Generator, n: int) -> np.ndarray:
            numbers = rng.integers(-2, 41, n)
            forms = rng.integers(0, 4, n)
            out = np.empty(n, dtype=object)
            for i, (number, form) in enumerate(zip(numbers, forms, strict=True)):
                out[i] = (int(number), float(number), f"{number}.0", f"0{number}")[form]
            return out

        odd_kinds.append(codes)
    return plausible, odd_kinds


def _column(
    spec: dict[str, Any], observed: np.ndarray, plausible_rows: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    numeric = spec["kind"] == "numeric"
    plausible, odd_kinds = (
        _numeric_drawers(spec, observed) if numeric else _categorical_drawers(spec, observed)
    )
    n = len(plausible_rows)
    out = plausible(rng, n).astype(object)
    # In the mixed rows, about a third of the cells are odd, spread over the odd kinds.
    odd_cells = ~plausible_rows & (rng.random(n) < 1 / 3)
    choice = rng.integers(0, len(odd_kinds), n)
    for index, draw in enumerate(odd_kinds):
        where = odd_cells & (choice == index)
        if where.any():
            out[where] = draw(rng, int(where.sum()))
    return out


def generated_rows(
    inputs: list[dict[str, Any]],
    train: pd.DataFrame | None = None,
    *,
    rows: int = DEFAULT_ROWS,
    seed: int = SEED,
) -> pd.DataFrame:
    """`rows` generated raw rows with one column per manifest input, in input order."""
    rng = np.random.default_rng(seed)
    plausible_rows = np.arange(rows) < rows // 2
    rng.shuffle(plausible_rows)
    columns = {}
    for spec in inputs:
        # One child generator per column: adding a column does not change the others' cells.
        child = np.random.default_rng([seed, len(columns)])
        columns[spec["name"]] = _column(spec, _observed(train, spec["name"]), plausible_rows, child)
    return pd.DataFrame(columns, columns=[spec["name"] for spec in inputs])
