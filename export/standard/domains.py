"""What a user's fitted steps can score, per raw input: the rules the server, batch, the Node,
Java and Go consumers and the gate apply before the graph runs (manifest `nullable`, `domain`,
`unknown`, `values`; docs/own-pipeline.md "Input rules").

scikit-learn refuses some values inside the pipeline: KBinsDiscretizer raises on a missing or
infinite value, the scalers, SimpleImputer and the encoders on an infinite one, an encoder
with handle_unknown="error" on a category it did not see. A graph would score those rows
silently (log1p(-2) is NaN, log1p(-1) is -inf), so they are refused by rule instead. Each
rule is solved back to the raw value through the elementwise steps before it (imputers,
scalers, numpy ufuncs), computed as scikit-learn computes them, by bisection over the
doubles: the domain bounds are exact. Where the accepted values are not one range (log then a
scaler: every number but 0), the range around the training data is kept (x > 0), stricter
than scikit-learn; where a rule cannot be traced to a raw input, the step is refused by its
path.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
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

from tabship.contract.values import category_text
from tabship.export.standard.refusal import StepRefused
from tabship.export.standard.tabship_steps import STEPS
from tabship.training.contract import Float32Cast

Op = Callable[[np.ndarray], np.ndarray]
PASSTHROUGH = (None, "passthrough")
LARGEST = float(np.finfo(np.float64).max)


@dataclass
class Rules:
    """One raw input's rules: accepted range (inclusive; infinite = no bound), whether a
    missing value is accepted, the categories (or numbers) an encoder accepts, and why."""

    minimum: float = -math.inf
    maximum: float = math.inf
    missing: bool = True
    known: set[Any] | None = None  # None: unknown categories accepted
    why: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Trace:
    """A column inside the pipeline: an elementwise function (`ops`) of the raw input `raw`,
    or opaque (raw None: encoders, bins, indicators, tabship steps) and then only whether it
    can hold a missing value."""

    raw: str | None
    text: bool = False
    ops: tuple[Op, ...] = ()
    after: tuple[str, ...] = ()  # the steps applied, for the why
    identity: bool = True  # every op only fills missing values
    may_be_missing: bool = False  # opaque columns
    filled: bool = False  # text: an imputer filled its missing values

    def then(self, op: Op, what: str, identity: bool = False) -> Trace:
        ops, after = (*self.ops, op), (*self.after, what)
        return replace(self, ops=ops, after=after, identity=self.identity and identity)

    def values(self, x: np.ndarray) -> np.ndarray:
        v = np.asarray(x, dtype=np.float64)
        with np.errstate(all="ignore"):
            for op in self.ops:
                v = op(v)
        return v

    def value(self, x: float) -> float:
        return float(self.values(np.array([x]))[0])


def _ordered(x: float) -> int:
    bits = int(np.array([x], dtype=np.float64).view(np.int64)[0])
    return bits if bits >= 0 else -(bits & 0x7FFFFFFFFFFFFFFF)


def _double(k: int) -> float:
    bits = k if k >= 0 else (-k) | (1 << 63)
    return float(np.array([bits], dtype=np.uint64).view(np.float64)[0])


def _edge(accepts: Callable[[float], bool], inside: float, outside: float) -> float:
    """The accepted double nearest `outside` on the way from `inside` (accepted) to `outside`
    (refused), assuming one change on that way."""
    good, bad = _ordered(inside), _ordered(outside)
    while abs(good - bad) > 1:
        middle = (good + bad) // 2
        if accepts(_double(middle)):
            good = middle
        else:
            bad = middle
    return _double(good)


class Derivation:
    def __init__(self, frame: Any) -> None:
        self.frame = frame
        self.rules: dict[str, Rules] = {}

    def of(self, raw: str) -> Rules:
        return self.rules.setdefault(raw, Rules())

    # -- the walk --------------------------------------------------------------------------

    def step(self, step: Any, cols: list[Trace], path: str) -> list[Trace]:
        if step in PASSTHROUGH:
            return cols
        kind = type(step)
        if kind is Pipeline:
            for name, inner in step.steps:
                cols = self.step(inner, cols, f"{path}/{name}" if path else name)
            return cols
        if kind is ColumnTransformer:
            out: list[Trace] = []
            indices = step._transformer_to_input_indices
            for name, transformer, _ in step.transformers_:
                where = [int(i) for i in indices.get(name, [])]
                if transformer == "drop" or not where:
                    continue
                inner = f"{path}/{name}" if path else name
                out += self.step(transformer, [cols[i] for i in where], inner)
            return out
        if kind in (StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler):
            self.require(step, cols, path, missing=True)
            return [
                c.then(_scaler(step, j), f"{path}: {kind.__name__}") for j, c in enumerate(cols)
            ]
        if kind is SimpleImputer:
            return self.imputer(step, cols, path)
        if kind in (OneHotEncoder, OrdinalEncoder):
            return self.encoder(step, cols, path)
        if kind is FunctionTransformer:
            if step.validate:  # check_array: finite numbers, no missing value
                self.require(step, cols, path, missing=False)
            if step.func is None:
                return cols
            func, name = step.func, getattr(step.func, "__name__", "func")
            return [c.then(func, f"{path}: {name}") for c in cols]
        if kind is KBinsDiscretizer:
            self.require(step, cols, path, missing=False)
            width = int(sum(step.n_bins_)) if step.encode != "ordinal" else len(cols)
            return [Trace(None)] * width
        if kind is Float32Cast:
            return [c.then(_float32, f"{path}: Float32Cast") for c in cols]
        if kind in STEPS:  # tabship's steps read any value; their outputs may be missing
            return [Trace(None, may_be_missing=True)] * STEPS[kind][2](step)
        return cols  # the model: XGBoost scores any number, missing and infinite ones too

    def imputer(self, step: Any, cols: list[Trace], path: str) -> list[Trace]:
        if not (cols and cols[0].text):
            self.require(step, cols, path, missing=True)
        out = []
        for col, statistic in zip(cols, np.asarray(step.statistics_, dtype=object), strict=True):
            if col.text:
                out.append(replace(col, filled=True, after=(*col.after, f"{path}: SimpleImputer")))
                continue
            value = float(statistic)
            if math.isnan(value) and not step.keep_empty_features:
                continue
            out.append(
                col.then(
                    _fill(0.0 if math.isnan(value) else value),
                    f"{path}: SimpleImputer",
                    identity=True,
                )
            )
        if step.add_indicator:
            out += [Trace(None)] * len(step.indicator_.features_)
        return out

    def encoder(self, step: Any, cols: list[Trace], path: str) -> list[Trace]:
        numbers = [c for c in cols if not c.text]
        if numbers:
            self.require(step, numbers, path, missing=True)
        for col, categories in zip(cols, step.categories_, strict=True):
            if step.handle_unknown == "error":
                self.known(step, col, list(categories), path)
        if isinstance(step, OneHotEncoder):
            widths = [len(step._compute_transformed_categories(i)) for i in range(len(cols))]
            return [Trace(None)] * sum(widths)
        nan_out = any(
            isinstance(v, float) and math.isnan(v)
            for v in (step.unknown_value, step.encoded_missing_value)
        )
        return [Trace(None, may_be_missing=nan_out)] * len(cols)

    # -- rules -----------------------------------------------------------------------------

    def known(self, step: Any, col: Trace, categories: list[Any], path: str) -> None:
        """handle_unknown="error": only the fitted categories (a missing value only when it
        is one of them, or filled before)."""
        kind = type(step).__name__
        if col.raw is None or not col.identity:
            raise StepRefused(
                path,
                step,
                "handle_unknown='error' on a computed column: its refusal cannot be stated on "
                "a raw input; use handle_unknown='ignore' or 'use_encoded_value'",
            )
        has_nan = any(c is None or (isinstance(c, float) and math.isnan(c)) for c in categories)
        values = [c for c in categories if not (c is None or (isinstance(c, float) and c != c))]
        known = {category_text(c) for c in values} if col.text else {float(c) for c in values}
        rules = self.of(col.raw)
        rules.known = known if rules.known is None else rules.known & known
        why = f"{path}: {kind} refuses unknown categories"
        filled = col.filled if col.text else not math.isnan(col.value(math.nan))
        if not has_nan and not filled:
            rules.missing = False
            why += " and a missing value"
        rules.why.append(why)

    def require(self, step: Any, cols: list[Trace], path: str, *, missing: bool) -> None:
        """`step` raises on infinite values (and, unless `missing`, on a missing one)."""
        kind = type(step).__name__
        needs = "finite numbers" + ("" if missing else ", no missing value")

        def accepted(v: np.ndarray) -> np.ndarray:
            return np.where(np.isnan(v), missing, ~np.isinf(v))

        for col in cols:
            if col.text:
                continue
            if col.raw is None:
                if col.may_be_missing and not missing:
                    raise StepRefused(
                        path,
                        step,
                        f"{kind} refuses missing values, and a computed column before it can "
                        "be missing: impute it first",
                    )
                continue
            rules = self.of(col.raw)
            noted = False
            if not accepted(col.values(np.array([math.nan])))[0]:
                rules.missing = False
                noted = True
            low, high = self.bound(col, accepted, step, path)
            if low > -math.inf or high < math.inf:
                rules.minimum = max(rules.minimum, low)
                rules.maximum = min(rules.maximum, high)
                noted = True
            if noted:
                after = f" (after {'; '.join(col.after)})" if col.after else ""
                rules.why.append(f"{path}: {kind} reads {needs}{after}")

    def probes(self, raw: str) -> np.ndarray:
        values: Any = [] if self.frame is None else np.asarray(self.frame[raw], dtype=object)
        finite = [float(v) for v in values if _finite(v)]
        special = [-1.0, -0.0, 0.0, 1.0, 5e-324, -5e-324, 1e308, -1e308, -LARGEST, LARGEST]
        return np.asarray(sorted({*special, *finite}), dtype=np.float64)

    def bound(
        self, col: Trace, accepted: Callable[[np.ndarray], np.ndarray], step: Any, path: str
    ) -> tuple[float, float]:
        """The smallest and largest raw value `accepted` after the column's ops (infinite: no
        bound), checked to be one range on the data and around special values."""
        assert col.raw is not None
        probes = self.probes(col.raw)
        good = accepted(col.values(probes))
        if good.all():
            return -math.inf, math.inf
        if not good.any():
            raise StepRefused(
                path, step, f"no value of column {col.raw!r} reaches it as a value it reads"
            )
        # the run of accepted probes around the training data's middle: where the accepted
        # values are not one range (log then a scaler: all but 0), the range around the data,
        # which is stricter than scikit-learn (log(-1) is NaN, a missing value to it)
        inside = np.flatnonzero(good)
        anchor = int(inside[len(inside) // 2])
        first, last = anchor, anchor
        while first > 0 and good[first - 1]:
            first -= 1
        while last < len(probes) - 1 and good[last + 1]:
            last += 1

        def ok(x: float) -> bool:
            return bool(accepted(col.values(np.array([x])))[0])

        low = -math.inf if first == 0 else _edge(ok, probes[first], probes[first - 1])
        high = math.inf if last == len(probes) - 1 else _edge(ok, probes[last], probes[last + 1])
        return low, high


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _float32(v: np.ndarray) -> np.ndarray:
    return v.astype(np.float32).astype(np.float64)


def _fill(value: float) -> Op:
    return lambda v: np.where(np.isnan(v), value, v)


def _scaler(step: Any, j: int) -> Op:
    """Column j of a fitted scaler's transform, in scikit-learn's operations and order."""
    if isinstance(step, StandardScaler | RobustScaler):
        center = step.mean_ if isinstance(step, StandardScaler) else step.center_
        centred = step.with_mean if isinstance(step, StandardScaler) else step.with_centering
        scaled = step.with_std if isinstance(step, StandardScaler) else step.with_scaling
        c = float(center[j]) if centred else None
        s = float(step.scale_[j]) if scaled else None

        def centre_scale(v: np.ndarray) -> np.ndarray:
            if c is not None:
                v = v - c
            return v / s if s is not None else v

        return centre_scale
    if isinstance(step, MaxAbsScaler):
        scale = float(step.scale_[j])
        return lambda v: v / scale
    scale, shift = float(step.scale_[j]), float(step.min_[j])
    low, high = (float(v) for v in step.feature_range)
    clip = bool(step.clip)

    def min_max(v: np.ndarray) -> np.ndarray:
        v = v * scale + shift
        return np.clip(v, low, high) if clip else v

    return min_max


def derive_rules(steps: Any, columns: list[tuple[str, bool]], frame: Any) -> dict[str, Rules]:
    """Raw input -> its rules, for the user's fitted `steps` reading `columns` ((name,
    text?) in order); inputs without a rule are left out."""
    derivation = Derivation(frame)
    derivation.step(steps, [Trace(name, text=text) for name, text in columns], "")
    return {
        name: rules
        for name, rules in derivation.rules.items()
        if rules.why
        or not rules.missing
        or rules.known is not None
        or math.isfinite(rules.minimum)
        or math.isfinite(rules.maximum)
    }
