"""The gate's row sets beyond the held-out and training data: boundary probes and hostile rows.

Boundary probes are built through the contract: for every split of every tree, the raw value is
solved so that the value reaching the trees sits exactly on the split threshold, one float32
ulp to either side, and on the float64 midpoints between them (where a different rounding of
the float64 -> float32 cast would show). How each kind of tree feature is reached:

- a cleaned numeric column: the raw value itself (cleaning is the identity inside the bounds);
- ratio a/b: a = target, b = 1 (exact in IEEE arithmetic);
- sum a+b+...: a = target, the others 0 (exact);
- sqrt(x): x = target squared and its two float64 neighbours;
- log(1+x): x = expm1(target), the closest float64 solution; log is not exactly invertible, so
  this probes the neighbourhood of the threshold, which is where a 1-ulp difference between
  math libraries moves a row across it (and does: see training/contract/features.py);
- the PageValues>0-style flag and one-hot indicators: 0/1 features, probed by the values that
  produce them (0, -0.0, the smallest positive double, NaN; every known category, an unseen
  one, missing);
- a category number (month): every label of the mapping.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tabship.training.contract import CategoryEncoder
from tabship.training.own.reference import raw_columns

Probe = Callable[[dict[str, Any], float], list[dict[str, Any]]]
MAX_BOUNDARY_ROWS = 200_000
MAX_HOSTILE_LABELS = 32  # per column: every spelling oddity on this many labels


def tree_thresholds(pipeline: Any) -> dict[int, np.ndarray]:
    """Feature index -> the distinct float32 split thresholds of the fitted booster."""
    booster = pipeline.named_steps["model"].get_booster()
    model = json.loads(booster.save_raw("json"))
    found: dict[int, set[float]] = defaultdict(set)
    for tree in model["learner"]["gradient_booster"]["model"]["trees"]:
        for left, feature, condition in zip(
            tree["left_children"], tree["split_indices"], tree["split_conditions"], strict=True
        ):
            if left != -1:  # an internal node
                found[int(feature)].add(float(np.float32(condition)))
    return {f: np.array(sorted(v), dtype=np.float32) for f, v in found.items()}


def split_counts_per_class(pipeline: Any, classes: int) -> dict[str, int]:
    """Internal nodes per class's trees (a multiclass booster keeps tree i for class i % K):
    every one of them is in tree_thresholds, so the probes cover every class."""
    booster = pipeline.named_steps["model"].get_booster()
    model = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]
    counts = dict.fromkeys(range(classes), 0)
    for tree, group in zip(model["trees"], model["tree_info"], strict=True):
        counts[int(group)] += sum(1 for left in tree["left_children"] if left != -1)
    return {str(k): v for k, v in counts.items()}


_TARGETS_PER_THRESHOLD = ("below", "low midpoint", "on", "high midpoint", "above")


def _targets(threshold: np.float32) -> list[float]:
    below = np.nextafter(threshold, np.float32(-np.inf), dtype=np.float32)
    above = np.nextafter(threshold, np.float32(np.inf), dtype=np.float32)
    t, lo, hi = float(threshold), float(below), float(above)
    return [lo, (lo + t) / 2, t, (t + hi) / 2, hi]


def _feature_probes(pipeline: Any) -> dict[int, tuple[str, Probe, bool]]:
    """For each column of the matrix that reaches the trees: its name, how to move it from raw
    values, and whether it is discrete (probed by its values, not at each threshold)."""
    if raw_columns(pipeline) is not None:  # a user's own pipeline
        from tabship.parity_tests.own_probes import own_feature_probes

        return own_feature_probes(pipeline)
    contract = pipeline.named_steps["contract"]
    probes: dict[int, tuple[str, Probe, bool]] = {}
    for branch, transformer, columns in contract.transformers_:
        if branch == "remainder":
            continue
        start = contract.output_indices_[branch].start
        if branch == "numeric":
            for offset, column in enumerate(columns):
                probes[start + offset] = (column, _set_value(column), False)
            deriver = transformer.named_steps["derive"]
            for offset, feature in enumerate(deriver.features or [], start=len(columns)):
                discrete = feature["kind"] == "positive"
                probes[start + offset] = (feature["name"], _derived_probe(feature), discrete)
        elif isinstance(transformer, CategoryEncoder):
            position = start
            for column, labels in zip(columns, transformer.categories_, strict=True):
                width = len(labels) + 2  # the labels, then the unknown and missing buckets
                for slot in range(position, position + width):
                    probes[slot] = (column, _category_probe(column, labels), True)
                position += width
        else:  # a CategoryNumber branch
            (column,) = columns
            probes[start] = (branch, _category_probe(column, transformer.categories_[0]), True)
    return probes


def _neighbours(value: float) -> list[float]:
    return [float(np.nextafter(value, -np.inf)), value, float(np.nextafter(value, np.inf))]


def _set_value(column: str) -> Probe:
    return lambda row, target: [{**row, column: target}]


def _derived_probe(feature: dict[str, Any]) -> Probe:
    kind, inputs = feature["kind"], feature["inputs"]
    if kind == "ratio":
        return lambda row, target: [{**row, inputs[0]: target, inputs[1]: 1.0}]
    if kind == "sum":
        return lambda row, target: [{**row, **dict.fromkeys(inputs[1:], 0.0), inputs[0]: target}]
    if kind == "sqrt":
        # target**2 rounds; probing the float64 neighbours of the square covers both sides.
        return lambda row, target: [
            {**row, inputs[0]: v}
            for v in _neighbours(float(np.float64(target) * np.float64(target)))
        ]
    if kind == "log1p":
        return lambda row, target: [{**row, inputs[0]: float(np.expm1(target))}]
    if kind == "positive":
        return lambda row, _: [{**row, inputs[0]: v} for v in (0.0, -0.0, 5e-324, np.nan, 1.0)]
    raise ValueError(f"no probe for feature kind {kind!r}")


def _category_probe(column: str, labels: list[str]) -> Probe:
    return lambda row, _: [{**row, column: v} for v in [*labels, "never-seen-value", None]]


@dataclass(frozen=True)
class BoundarySet:
    rows: pd.DataFrame
    per_feature: dict[str, int]  # probe rows per raw column or derived feature
    thresholds: int  # distinct (feature, threshold) pairs of the booster
    probed: int  # of them, how many were probed (all unless the row cap applied)

    @property
    def note(self) -> str | None:
        if self.probed == self.thresholds:
            return None
        return (
            f"capped: probed {self.probed} of {self.thresholds} split thresholds "
            "(evenly spaced per feature, every feature kept)"
        )


def _spread(thresholds: np.ndarray, keep: int) -> np.ndarray:
    """`keep` thresholds evenly spaced over the sorted ones, both ends included."""
    if keep >= len(thresholds):
        return thresholds
    return thresholds[np.unique(np.linspace(0, len(thresholds) - 1, keep).round().astype(int))]


def boundary_rows(
    pipeline: Any, base: pd.DataFrame, *, max_rows: int = MAX_BOUNDARY_ROWS
) -> BoundarySet:
    """Probe rows for every split threshold of every tree, each built on every base row.

    On a wide or deep model the probes can outgrow `max_rows`; the continuous features'
    thresholds are then thinned in proportion (deterministically, at least one per feature)
    and the set says so.
    """
    probes = _feature_probes(pipeline)
    thresholds = tree_thresholds(pipeline)
    base_rows = base.to_dict("records")
    continuous = {f: t for f, t in thresholds.items() if not probes[f][2]}
    total = sum(len(t) for t in continuous.values())
    # Rows one threshold costs: five targets, each on every base row, times the probe's rows.
    sample = base_rows[0] if base_rows else {}
    cost = {
        f: len(_TARGETS_PER_THRESHOLD) * len(base_rows) * len(probes[f][1](sample, 1.0))
        for f in continuous
    }
    wanted = sum(len(t) * cost[f] for f, t in continuous.items())
    if wanted > max_rows:
        share = max_rows / wanted
        continuous = {f: _spread(t, max(1, int(len(t) * share))) for f, t in continuous.items()}
    rows: list[dict[str, Any]] = []
    per_feature: dict[str, int] = defaultdict(int)
    probed_discrete: set[str] = set()
    for feature in sorted(thresholds):
        name, probe, discrete = probes[feature]
        before = len(rows)
        if discrete:
            # The probe does not depend on the threshold: once per column is enough.
            if name in probed_discrete:
                continue
            probed_discrete.add(name)
            for row in base_rows:
                rows += probe(row, 0.0)
        else:
            for threshold in continuous[feature]:
                for target in _targets(threshold):
                    for row in base_rows:
                        rows += probe(row, target)
        per_feature[name] += len(rows) - before
    probed = sum(len(t) for t in continuous.values())
    return BoundarySet(
        rows=pd.DataFrame(rows, columns=base.columns),
        per_feature=dict(per_feature),
        thresholds=total,
        probed=probed,
    )


def _spread_labels(labels: list[str]) -> list[str]:
    if len(labels) <= MAX_HOSTILE_LABELS:
        return list(labels)
    picks = np.linspace(0, len(labels) - 1, MAX_HOSTILE_LABELS).round().astype(int)
    return [labels[i] for i in np.unique(picks)]


def hostile_rows(base: pd.DataFrame, inputs: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows a careless or malicious client sends, one oddity at a time, on a typical row."""
    typical = base.iloc[0].to_dict()
    rows: list[dict[str, Any]] = [dict.fromkeys(typical), {k: np.nan for k in typical}]
    for spec in inputs:
        name = spec["name"]
        odd: list[Any] = [None, np.nan, "", "   "]
        if spec["kind"] == "numeric":
            odd += [
                0.0,
                -0.0,
                -1.0,
                1e308,
                -1e308,
                5e-324,
                1e-300,
                np.inf,
                -np.inf,
                "3.5",
                " 12 ",
                "1e2",
                "-0",
                "not a number",
                "?",
            ]
            bounds = spec.get("bounds") or {}
            for edge in (bounds.get("min"), bounds.get("max")):
                if edge is not None:
                    odd += [
                        edge,
                        float(np.nextafter(edge, -np.inf)),
                        float(np.nextafter(edge, np.inf)),
                    ]
        else:
            labels = _spread_labels(spec.get("categories", []))
            odd += ["never-seen-value", "\t", "NULL", "x" * 300, "a\x00b"]
            for label in labels:
                odd += [label, label.upper(), f"  {label}\t", label.title()]
            odd += list(spec.get("aliases", {}))
            if spec.get("integer_codes"):
                for label in labels[:5]:
                    odd += [
                        int(label),
                        float(label),
                        f"{label}.0",
                        f"0{label}",
                        f" {label} ",
                        float(label) + 0.5,
                    ]
        rows += [{**typical, name: value} for value in odd]
    return pd.DataFrame(rows, columns=base.columns)
