"""OneHotEncoder and OrdinalEncoder by lookup tables that scikit-learn itself fills.

Per input column: the row's category index (Equal against the fitted categories, a missing
value matched where the encoder has NaN as a category, one more slot for anything unseen),
then a Gather from a table whose row k is the encoder's own output for category k. The
table comes from calling the fitted encoder on its categories, so drop, min_frequency,
max_categories, infrequent grouping, unknown_value and encoded_missing_value are exactly
scikit-learn's. With handle_unknown="error" the unseen slot holds missing values: never
reached, since the input's rule refuses what scikit-learn refuses (export/standard/domains.py).
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.preprocessing import OneHotEncoder

from tabship.export.standard.graph import Col, Graph

UNSEEN_TEXT = "\x01tabship-unseen\x01"  # never a served value: the server refuses control text


def _is_nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def encoder_problem(step: Any) -> str | None:
    if step.handle_unknown not in ("error", "ignore", "infrequent_if_exist", "use_encoded_value"):
        return f"handle_unknown={step.handle_unknown!r} is not supported"
    return None


def _probe_input(step: Any, column: int, values: list[Any], text: list[bool]) -> Any:
    """A frame of len(values) rows for the encoder: `column` takes the values, the others
    their first category (any valid value)."""
    data = {}
    for j, cats in enumerate(step.categories_):
        if j == column:
            data[j] = pd.Series(values, dtype=object if text[j] else np.float64)
        else:
            first = cats[0]
            data[j] = pd.Series([first] * len(values), dtype=object if text[j] else np.float64)
    frame = pd.DataFrame(data)
    names = getattr(step, "feature_names_in_", None)
    if names is not None:
        frame.columns = list(names)
        return frame
    return frame.to_numpy(dtype=object) if any(text) else frame.to_numpy(dtype=np.float64)


def _block_slices(step: Any) -> list[slice]:
    if isinstance(step, OneHotEncoder):
        widths = [
            len(step._compute_transformed_categories(i)) for i in range(len(step.categories_))
        ]
    else:
        widths = [1] * len(step.categories_)
    starts = np.cumsum([0, *widths])
    return [slice(int(a), int(b)) for a, b in itertools.pairwise(starts)]


def _unseen(cats: Any, text: bool) -> Any:
    if text:
        return UNSEEN_TEXT
    finite = [float(c) for c in cats if not _is_nan(c)]
    return (max(finite) if finite else 0.0) + 1.5


def _index(g: Graph, col: Col, cats: list[Any]) -> str:
    """int64 [N]: k for the k-th category, len(cats) for anything else."""
    known = [c for c in cats if not _is_nan(c)]
    parts = []
    if known:
        values = np.asarray([known], dtype=object if col.text else np.float64)
        parts.append(g.to_double(g.op("Equal", [col.name, g.const(values, values.dtype, "cats")])))
    order = [cats.index(c) for c in known]
    if len(known) < len(cats):  # the encoder has a missing value as a category
        parts.append(g.to_double(g.missing(col)))
        order.append(next(i for i, c in enumerate(cats) if _is_nan(c)))
    hits = g.op("Concat", parts, axis=1) if len(parts) > 1 else parts[0]
    found = g.op("ReduceMax", [hits, g.const([1], np.int64, "axis")], keepdims=1)
    unseen = g.op("Sub", [g.const([[1.0]]), found])
    slot = g.op("ArgMax", [g.op("Concat", [hits, unseen], axis=1)], axis=1, keepdims=0)
    # ArgMax counts in `parts` order; map back to the categories' order (unseen stays last)
    remap = np.asarray([*order, len(cats)], dtype=np.int64)
    return g.op("Gather", [g.const(remap, np.int64, "order"), slot], axis=0)


def convert_encoder(g: Graph, step: Any, cols: list[Col]) -> list[Col]:
    text = [c.text for c in cols]
    slices = _block_slices(step)
    out: list[Col] = []
    for j, (col, cats) in enumerate(zip(cols, step.categories_, strict=True)):
        cats = list(cats)
        refuses = step.handle_unknown == "error"  # scikit-learn raises on the unseen slot
        values = [*(None if _is_nan(c) and col.text else c for c in cats)]
        if not refuses:
            values.append(_unseen(cats, col.text))
        values = [np.nan if v is None else v for v in values]
        with warnings.catch_warnings():  # "unknown categories will be all zeros": as meant
            warnings.simplefilter("ignore")
            encoded = step.transform(_probe_input(step, j, values, text))
        table = np.asarray(
            encoded.toarray() if sparse.issparse(encoded) else encoded, dtype=np.float64
        )
        table = table[:, slices[j]]
        if refuses:
            table = np.vstack([table, np.full((1, table.shape[1]), np.nan)])
        rows = g.op("Gather", [g.const(table, hint="table"), _index(g, col, cats)], axis=0)
        out += g.split(rows, table.shape[1])
    return out
