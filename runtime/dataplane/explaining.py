"""What a request asks of the explainer, checked (one parser for every transport), and the
contributions as the tabship API answers them: per row, the top k by magnitude (or all), the
bias, the margin they add up to and the rest not listed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tabship.contract.target import Target
from tabship.runtime.dataplane.errors import BadRequest
from tabship.runtime.explain.explainer import Contributions

BY = ("column", "feature")
MAX_TOP = 100_000


class NoExplainer(BadRequest):
    code = "no_explainer"


@dataclass(frozen=True, slots=True)
class Explain:
    top: int | None  # None: every column
    by: str  # "column" (raw columns, one-hot summed) or "feature" (the trees' inputs)


def parse_explain(value: Any, by: Any, where: str = "query parameter") -> Explain | None:
    """`explain`: absent/None -> no explanation, "all" or an integer k >= 1 (top k by
    magnitude); `by`: "column" (default) or "feature"."""
    if by is not None and by not in BY:
        raise BadRequest(f"{where} 'explain_by' must be one of {list(BY)}, got {str(by)[:40]!r}")
    if value is None:
        if by is not None:
            raise BadRequest(f"{where} 'explain_by' needs 'explain' (all or a count)")
        return None
    if value is True or value == "all":
        return Explain(None, by or "column")
    if isinstance(value, str) and value.isdigit() and len(value) <= 6:
        value = int(value)
    if type(value) is int and 1 <= value <= MAX_TOP:
        return Explain(value, by or "column")
    raise BadRequest(
        f"{where} 'explain' must be 'all' or a count of columns from 1 to {MAX_TOP}, "
        f"got {str(value)[:40]!r}"
    )


def _one(names: list[str], values: np.ndarray, bias: float, top: int | None) -> dict[str, Any]:
    order = np.argsort(-np.abs(values), kind="stable")
    shown = order if top is None else order[:top]
    listed = values[shown]
    entry: dict[str, Any] = {
        "bias": bias,
        "margin": float(bias + values.sum()),
        "values": {names[i]: v for i, v in zip(shown.tolist(), listed.tolist(), strict=True)},
    }
    if top is not None and top < len(names):
        entry["rest"] = float(values.sum() - listed.sum())
    return entry


def rows_json(
    contributions: Contributions, top: int | None, target: Target
) -> list[dict[str, Any]]:
    """Each row's `contributions` object, one {bias, margin, values[, rest]} per margin, in
    the target's shape (tabship.contract.target: binary flat, multiclass per class)."""
    names, bias = contributions.names, contributions.bias.tolist()
    return [
        target.contributions_entry(
            [_one(names, scores, b, top) for scores, b in zip(row, bias, strict=True)]
        )
        for row in contributions.values
    ]
