"""Boundary probes for a user's own pipeline: each column reaching the trees traced back
through the fitted steps to the raw column(s) it comes from.

A continuous column carries a probe that solves a value wanted at the trees back to raw
values: scalers are inverted (x = t * scale + mean ...) and the float64 neighbours of the
solution are probed too (the inversion rounds); log1p, sqrt, exp, log, square are inverted by
their inverse functions; imputers are the identity on present values. A discrete column (an
encoder's indicator or code, a bin, a missing-value indicator) is probed by the raw values
that produce each of its values: every category, an unseen one and a missing one; the raw
values around every bin edge. A step this walk does not know leaves its columns unprobed
(the set's row count shows it); the converter refuses such steps anyway.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    KBinsDiscretizer,
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
)

from tabship.training.contract import (
    CategoryEncoder,
    CategoryNumber,
    FeatureDeriver,
    NumericCleaner,
)

Row = dict[str, Any]
Probe = Callable[[Row, float], list[Row]]
UNSEEN = "never-seen-value"


@dataclass(frozen=True)
class Source:
    name: str  # the raw column (or derived feature) it comes from
    probe: Probe | None  # None: not probed
    discrete: bool = False
    text: bool = False


def _neighbours(value: float) -> list[float]:
    return [float(np.nextafter(value, -np.inf)), value, float(np.nextafter(value, np.inf))]


def _through(source: Source, inverse: Callable[[float], float]) -> Source:
    """The source after an invertible step: targets solved back, neighbours probed."""
    if source.probe is None or source.discrete:
        return source
    probe = source.probe

    def solved(row: Row, target: float) -> list[Row]:
        with np.errstate(all="ignore"):
            value = float(inverse(target))
        if not math.isfinite(value):
            return probe(row, value)
        return [r for v in _neighbours(value) for r in probe(row, v)]

    return Source(source.name, solved)


def _valued(source: Source, values: list[Any]) -> Source:
    """A discrete column: the raw rows that give each of `values` upstream."""
    if source.text:
        return Source(source.name, lambda row, _: [{**row, source.name: v} for v in values], True)
    probe = source.probe
    if probe is None:
        return Source(source.name, None, True)
    if source.discrete:
        return source

    def rows(row: Row, _: float) -> list[Row]:
        out = []
        for value in values:
            out += [{**row, source.name: None}] if value is None else probe(row, float(value))
        return out

    return Source(source.name, rows, True)


def _category_values(cats: Any, text: bool) -> list[Any]:
    values: list[Any] = []
    for c in cats:
        missing = c is None or (isinstance(c, float) and math.isnan(c))
        values.append(None if missing else c)
    finite = [float(v) for v in values if v is not None and not text]
    unseen: Any = UNSEEN if text else (max(finite) if finite else 0.0) + 1.5
    return [*values, unseen, None]


INVERSES: dict[Any, Callable[[float], float]] = {
    np.log1p: np.expm1,
    np.log: np.exp,
    np.sqrt: lambda t: t * t,
    np.exp: np.log,
    np.abs: lambda t: t,
    np.square: np.sqrt,
}


def _scaler(step: Any, sources: list[Source]) -> list[Source]:
    out = []
    for j, source in enumerate(sources):
        if isinstance(step, StandardScaler):
            mean = step.mean_[j] if step.with_mean else 0.0
            scale = step.scale_[j] if step.with_std else 1.0
            out.append(_through(source, lambda t, m=mean, s=scale: t * s + m))
        elif isinstance(step, RobustScaler):
            center = step.center_[j] if step.with_centering else 0.0
            scale = step.scale_[j] if step.with_scaling else 1.0
            out.append(_through(source, lambda t, m=center, s=scale: t * s + m))
        elif isinstance(step, MaxAbsScaler):
            out.append(_through(source, lambda t, s=step.scale_[j]: t * s))
        else:
            out.append(_through(source, lambda t, s=step.scale_[j], m=step.min_[j]: (t - m) / s))
    return out


def _deriver(step: FeatureDeriver, sources: list[Source]) -> list[Source]:
    from tabship.parity_tests.rows import _derived_probe

    names = step._input_names()
    out = list(sources)
    for feature in step.features or []:
        inputs = [sources[names.index(c)] for c in feature["inputs"]]
        if any(s.probe is None or s.discrete for s in inputs):
            out.append(Source(feature["name"], None, True))
            continue
        raw = {**feature, "inputs": [s.name for s in inputs]}
        out.append(Source(feature["name"], _derived_probe(raw), feature["kind"] == "positive"))
    return out


def trace(step: Any, sources: list[Source]) -> list[Source]:
    if step is None or isinstance(step, str):
        return [] if step == "drop" else sources
    if isinstance(step, Pipeline):
        for _, inner in step.steps:
            sources = trace(inner, sources)
        return sources
    if isinstance(step, ColumnTransformer):
        indices = step._transformer_to_input_indices
        out: list[Source] = []
        for name, transformer, _ in step.transformers_:
            where = indices.get(name, [])
            if transformer != "drop" and len(where):
                out += trace(transformer, [sources[int(i)] for i in where])
        return out
    if isinstance(step, StandardScaler | RobustScaler | MaxAbsScaler | MinMaxScaler):
        return _scaler(step, sources)
    if isinstance(step, FunctionTransformer):
        if step.func is None:
            return sources
        inverse = INVERSES.get(step.func)
        if inverse is None:
            return [Source(s.name, None) for s in sources]
        return [_through(s, inverse) for s in sources]
    if isinstance(step, SimpleImputer):
        statistics = np.asarray(step.statistics_, dtype=object)
        kept = [
            s
            for s, stat in zip(sources, statistics, strict=True)
            if step.keep_empty_features
            or s.text
            or not (isinstance(stat, float) and math.isnan(stat))
        ]
        if step.add_indicator:
            for index in step.indicator_.features_:
                source = sources[int(index)]
                present = UNSEEN if source.text else 1.0
                kept.append(_valued(source, [None, present]))
        return kept
    if isinstance(step, OneHotEncoder | OrdinalEncoder):
        out = []
        for source, cats in zip(sources, step.categories_, strict=True):
            out.append(_valued(source, _category_values(cats, source.text)))
        if isinstance(step, OneHotEncoder):
            widths = [len(step._compute_transformed_categories(i)) for i in range(len(out))]
            return [s for s, w in zip(out, widths, strict=True) for _ in range(w)]
        return out
    if isinstance(step, KBinsDiscretizer):
        out = []
        for source, edges, bins in zip(sources, step.bin_edges_, step.n_bins_, strict=True):
            found = _valued(source, [float(e) for e in edges[1:-1]])
            out += [found] * (1 if step.encode == "ordinal" else int(bins))
        return out
    if isinstance(step, NumericCleaner):
        return sources
    if isinstance(step, FeatureDeriver):
        return _deriver(step, sources)
    if isinstance(step, CategoryEncoder):
        out = []
        for source, labels in zip(sources, step.categories_, strict=True):
            found = _valued(source, [*labels, UNSEEN, None])
            out += [found] * (len(labels) + 2)
        return out
    if isinstance(step, CategoryNumber):
        return [
            _valued(s, [*labels, UNSEEN, None])
            for s, labels in zip(sources, step.categories_, strict=True)
        ]
    return [Source(s.name, None) for s in sources]


def _set(name: str) -> Probe:
    return lambda row, target: [{**row, name: target}]


def own_feature_probes(pipeline: Any) -> dict[int, tuple[str, Probe, bool]]:
    """Feature index at the trees -> (name, probe, discrete), as rows._feature_probes."""
    contract = pipeline.named_steps["contract"]
    raw = contract.steps[0][1]
    text = set(raw.categorical)
    sources = [
        Source(name, None, text=True) if name in text else Source(name, _set(name))
        for name in raw.columns
    ]
    probes: dict[int, tuple[str, Probe, bool]] = {}
    for index, source in enumerate(trace(contract.named_steps["steps"], sources)):
        if source.probe is None:
            probes[index] = (source.name, lambda row, _: [row], True)
        else:
            probes[index] = (source.name, source.probe, source.discrete)
    return probes
