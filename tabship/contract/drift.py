"""Drift per column: the training reference the manifest carries (`drift`), counts of served
or batch rows against it, and the figures both the server and `tabship drift` publish.

One implementation for all three sides, so the figures agree by construction:
- numeric column: the training values' deciles are the bin edges (bin i holds
  edges[i-1] <= v < edges[i]); out of range is below the training minimum or above its maximum.
- categorical column: one bin per known category (by the graph's spelling rules: case, blanks,
  aliases, integer codes) and one for everything unseen.
- missing values (NaN, blank text) are counted apart and left out of the bins.
PSI = sum over bins of (a - e) * ln(a / e), with a and e the observed and training shares of
the non-missing values, each floored at EPSILON (an empty bin would make it infinite).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tabship.contract.manifest import CATEGORICAL, NUMERIC
from tabship.contract.spelling import canonical_label

DRIFT_KEY = "drift"
QUANTILES = tuple(i / 10 for i in range(1, 10))
EPSILON = 1e-4
FIGURES = ("psi", "missing_rate", "out_of_range_rate", "unseen_rate")
_LABEL_MEMO_MAX = 4096


def numeric_edges(values: np.ndarray) -> list[float]:
    """Interior bin edges: the distinct deciles of the finite values."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return []
    return sorted({float(q) for q in np.quantile(finite, QUANTILES)})


def psi(expected: Iterable[float], observed: np.ndarray) -> float | None:
    """Population stability index of observed bin counts against expected shares; None
    without a single non-missing observation."""
    total = float(observed.sum())
    if total == 0:
        return None
    e = np.maximum(np.asarray(list(expected), dtype=np.float64), EPSILON)
    a = np.maximum(observed / total, EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass
class ColumnReference:
    """One column's training reference, as the manifest's `drift.columns[name]` holds it."""

    name: str
    kind: str
    expected: list[float]
    missing_rate: float
    edges: list[float] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None
    categories: list[str] = field(default_factory=list)
    aliases: Mapping[str, str] = field(default_factory=dict)
    integer_codes: bool = False

    @property
    def n_bins(self) -> int:
        return len(self.edges) + 1 if self.kind == NUMERIC else len(self.categories) + 1

    def as_manifest(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "kind": self.kind,
            "expected": self.expected,
            "missing_rate": self.missing_rate,
        }
        if self.kind == NUMERIC:
            entry.update(edges=self.edges, min=self.minimum, max=self.maximum)
        return entry


@dataclass
class ColumnCounts:
    """Counts of one column over some rows: bins, missing, out of range, unseen."""

    bins: np.ndarray
    rows: int = 0
    missing: int = 0
    out_of_range: int = 0
    unseen: int = 0

    def add(self, other: ColumnCounts) -> None:
        self.bins += other.bins
        self.rows += other.rows
        self.missing += other.missing
        self.out_of_range += other.out_of_range
        self.unseen += other.unseen


class DriftReference:
    """The manifest's drift section joined with its inputs (categories and spelling)."""

    def __init__(self, columns: list[ColumnReference], rows: int) -> None:
        self.columns = columns
        self.rows = rows
        self._labels: list[dict[str, int]] = [{} for _ in columns]

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> DriftReference | None:
        """None when the manifest has no drift section (a version exported before it)."""
        section = manifest.get(DRIFT_KEY)
        if not isinstance(section, dict):
            return None
        entries = section.get("columns", {})
        columns: list[ColumnReference] = []
        for entry in manifest["inputs"]:
            ref = entries.get(entry["name"])
            if not isinstance(ref, dict):
                continue
            column = ColumnReference(
                name=entry["name"],
                kind=entry["kind"],
                expected=[float(x) for x in ref["expected"]],
                missing_rate=float(ref["missing_rate"]),
            )
            if entry["kind"] == NUMERIC:
                column.edges = [float(x) for x in ref["edges"]]
                column.minimum = None if ref.get("min") is None else float(ref["min"])
                column.maximum = None if ref.get("max") is None else float(ref["max"])
            else:
                column.categories = list(entry.get("categories") or [])
                column.aliases = dict(entry.get("aliases") or {})
                column.integer_codes = bool(entry.get("integer_codes", False))
            if len(column.expected) != column.n_bins:
                continue  # a reference that does not fit the inputs is not used
            columns.append(column)
        return cls(columns, int(section.get("rows", 0)))

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def empty(self) -> list[ColumnCounts]:
        return [ColumnCounts(np.zeros(c.n_bins, dtype=np.int64)) for c in self.columns]

    def count(self, values: Mapping[str, Any]) -> list[ColumnCounts]:
        """Counts of validated values ({column: float64 values with NaN, or texts with ''})."""
        out = []
        for index, column in enumerate(self.columns):
            raw = values[column.name]
            if column.kind == NUMERIC:
                out.append(self._numeric(column, np.asarray(raw, dtype=np.float64).reshape(-1)))
            else:
                out.append(self._categorical(index, column, raw))
        return out

    @staticmethod
    def _numeric(column: ColumnReference, values: np.ndarray) -> ColumnCounts:
        missing = np.isnan(values)
        present = values[~missing]
        bins = np.bincount(
            np.searchsorted(np.asarray(column.edges), present, side="right"),
            minlength=column.n_bins,
        ).astype(np.int64)
        out_of_range = 0
        if column.minimum is not None and column.maximum is not None:
            out_of_range = int(
                np.count_nonzero((present < column.minimum) | (present > column.maximum))
            )
        return ColumnCounts(bins, len(values), int(missing.sum()), out_of_range)

    def _categorical(self, index: int, column: ColumnReference, values: Any) -> ColumnCounts:
        memo = self._labels[index]
        unseen_bin = len(column.categories)
        positions = {c: i for i, c in enumerate(column.categories)}
        bins = np.zeros(column.n_bins, dtype=np.int64)
        rows = missing = 0
        items = values.reshape(-1).tolist() if isinstance(values, np.ndarray) else values
        for value in items:
            rows += 1
            text = value if isinstance(value, str) else ""
            where = memo.get(text)
            if where is None:
                label = canonical_label(text, column.aliases, column.integer_codes)
                where = -1 if label is None else positions.get(label, unseen_bin)
                if len(memo) >= _LABEL_MEMO_MAX:  # texts come from clients: bounded
                    memo.clear()
                memo[text] = where
            if where < 0:
                missing += 1
            else:
                bins[where] += 1
        return ColumnCounts(bins, rows, missing, unseen=int(bins[unseen_bin]))

    def figures(self, counts: list[ColumnCounts]) -> dict[str, dict[str, float | None]]:
        """Per column: psi, missing_rate, out_of_range_rate (numeric), unseen_rate
        (categorical); None where no row was seen."""
        out: dict[str, dict[str, float | None]] = {}
        for column, counted in zip(self.columns, counts, strict=True):
            rows = counted.rows
            figures: dict[str, float | None] = {
                "rows": float(rows),
                "psi": psi(column.expected, counted.bins),
                "missing_rate": counted.missing / rows if rows else None,
            }
            if column.kind == NUMERIC:
                figures["out_of_range_rate"] = counted.out_of_range / rows if rows else None
            else:
                figures["unseen_rate"] = counted.unseen / rows if rows else None
            out[column.name] = figures
        return out


def reference_column(entry: Mapping[str, Any], values: np.ndarray | list[Any]) -> ColumnReference:
    """A column's training reference from its raw training values (the export side): numbers
    as float64 with NaN for missing, categories as text with '' for missing."""
    name, kind = str(entry["name"]), str(entry["kind"])
    if kind == NUMERIC:
        numbers = np.asarray(values, dtype=np.float64).reshape(-1)
        numbers = np.where(np.isfinite(numbers), numbers, np.nan)
        edges = numeric_edges(numbers)
        finite = numbers[~np.isnan(numbers)]
        column = ColumnReference(
            name,
            kind,
            [],
            0.0,
            edges=edges,
            minimum=float(finite.min()) if finite.size else None,
            maximum=float(finite.max()) if finite.size else None,
        )
    elif kind == CATEGORICAL:
        column = ColumnReference(
            name,
            kind,
            [],
            0.0,
            categories=list(entry.get("categories") or []),
            aliases=dict(entry.get("aliases") or {}),
            integer_codes=bool(entry.get("integer_codes", False)),
        )
    else:
        raise ValueError(f"{name}: kind {kind!r}")
    reference = DriftReference([column], 0)
    counted = reference.count({name: values})[0]
    present = int(counted.bins.sum())
    column.expected = [
        _rounded(b / present) if present else 1.0 / column.n_bins for b in counted.bins.tolist()
    ]
    column.missing_rate = _rounded(counted.missing / counted.rows) if counted.rows else 0.0
    return column


def _rounded(value: float) -> float:
    return float(f"{value:.12g}") if math.isfinite(value) else value
