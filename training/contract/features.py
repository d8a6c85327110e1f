from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

# Feature kinds computed from numeric columns. Each formula is written exactly as its ONNX
# counterpart computes it (same operations, same order). +, /, sqrt and comparisons are
# correctly rounded by IEEE 754, so they agree bit for bit in every runtime; log is not (numpy
# and onnxruntime differ by one ulp on ~10 % of inputs: bench/log_vs_sqrt.py), so "log1p" can move a row across a
# float32 rounding boundary and the parity gate's boundary probes reject models that split on
# it. Prefer "sqrt" to tame heavy tails.
NUMERIC_FEATURE_KINDS = ("ratio", "sum", "sqrt", "log1p", "positive")


def derive(kind: str, columns: list[np.ndarray]) -> np.ndarray:
    # Overflow to +/-inf is expected (e.g. 1e308 + 1e308), as in the graph: no warning.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if kind == "ratio":
            numerator, denominator = columns
            quotient = numerator / denominator
            return np.where(denominator == 0.0, np.nan, quotient)
        if kind == "sum":
            total = columns[0]
            for column in columns[1:]:
                total = total + column
            return total
        if kind == "sqrt":
            root: np.ndarray = np.sqrt(columns[0])
            return root
        if kind == "log1p":
            # log(1 + x) rather than np.log1p: the graph has no Log1p operator.
            return np.log(columns[0] + 1.0)
        if kind == "positive":
            (x,) = columns
            return np.where(np.isnan(x), np.nan, (x > 0.0).astype(np.float64))
    raise ValueError(f"unknown feature kind {kind!r}")


class FeatureDeriver(TransformerMixin, BaseEstimator):
    """Appends derived float64 features to the (already cleaned) numeric columns.

    `features` is a list of {"name", "kind", "inputs"}: kind "ratio" (inputs[0] / inputs[1],
    NaN where the denominator is 0), "sum" (left to right), "sqrt", "log1p" (log(1 + x), not
    bit-reproducible across math libraries: see above), "positive"
    (1.0 where x > 0, 0.0 otherwise, NaN stays NaN). Missing inputs give a missing feature.
    `columns` names the input columns when X arrives without names (after a previous step).
    """

    def __init__(
        self,
        features: Sequence[Mapping[str, Any]] | None = None,
        columns: Sequence[str] | None = None,
    ) -> None:
        self.features = features
        self.columns = columns

    def _input_names(self) -> list[str]:
        if hasattr(self, "feature_names_in_"):
            return [str(n) for n in self.feature_names_in_]
        if self.columns is not None:
            if len(self.columns) != self.n_features_in_:
                raise ValueError(
                    f"columns names {len(self.columns)} columns, X has {self.n_features_in_}"
                )
            return list(self.columns)
        return [f"x{i}" for i in range(self.n_features_in_)]

    def fit(self, X: Any, y: Any = None) -> FeatureDeriver:
        validate_data(self, X, dtype=np.float64, ensure_all_finite=False, reset=True)
        names = self._input_names()
        plan = []
        for feature in self.features or []:
            if feature["kind"] not in NUMERIC_FEATURE_KINDS:
                raise ValueError(f"feature {feature['name']!r}: unknown kind {feature['kind']!r}")
            missing = [c for c in feature["inputs"] if c not in names]
            if missing:
                raise ValueError(f"feature {feature['name']!r} needs columns {missing}")
            plan.append((feature["kind"], [names.index(c) for c in feature["inputs"]]))
        self.plan_ = plan
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "plan_")
        values = validate_data(self, X, dtype=np.float64, ensure_all_finite=False, reset=False)
        derived = [derive(kind, [values[:, i] for i in idx]) for kind, idx in self.plan_]
        return np.column_stack([values, *derived]) if derived else values

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "plan_")
        names = self._input_names()
        return np.asarray(names + [f["name"] for f in self.features or []], dtype=object)

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
