from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from tabship.training.contract._validation import as_float64, raw_array


class NumericCleaner(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Raw numeric columns -> float64, with impossible values turned into NaN.

    Text is parsed as a number (unparsable text is NaN); +/-inf and values outside the declared
    `bounds` ({column: (min, max)}, either end None) become NaN, which XGBoost treats as
    missing. NaN is never imputed here: the trees learn where missing values go.
    """

    def __init__(self, bounds: Mapping[str, Sequence[float | None]] | None = None) -> None:
        self.bounds = bounds

    def fit(self, X: Any, y: Any = None) -> NumericCleaner:
        raw_array(self, X, reset=True)
        names = list(getattr(self, "feature_names_in_", []))
        lower = np.full(self.n_features_in_, -np.inf)
        upper = np.full(self.n_features_in_, np.inf)
        for column, (low, high) in (self.bounds or {}).items():
            if column not in names:
                raise ValueError(f"bounds name column {column!r}, which is not among the inputs")
            index = names.index(column)
            lower[index] = -np.inf if low is None else float(low)
            upper[index] = np.inf if high is None else float(high)
        self.lower_, self.upper_ = lower, upper
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "lower_")
        values = as_float64(raw_array(self, X, reset=False))
        impossible = np.isinf(values) | (values < self.lower_) | (values > self.upper_)
        values[impossible] = np.nan
        return values

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        return tags
