"""RawColumns: raw values -> what the user's pipeline reads, exactly as the graph is fed.

Every consumer feeds the graph through tabship/contract/values.py (numbers as float64, NaN for
missing; categories as text, "" for missing). The reference pipeline reads the same values:
numbers through `number_value` (infinite values are missing, as in tabship's own cleaning),
categories through `category_text` with "" turned into NaN, the one missing value scikit-learn
encoders and imputers know. pandas would otherwise encode a null as NaN or None depending on
the other values of the batch (two categories for one null).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from tabship.contract.values import MISSING_TEXT, category_text, number_value


def canonical_number(value: Any) -> float:
    number = number_value(value)
    return math.nan if math.isinf(number) else number


def canonical_text(value: Any) -> Any:
    text = category_text(value)
    return np.nan if text == MISSING_TEXT else text


class RawColumns(TransformerMixin, BaseEstimator):
    """Selects `columns` (in order) from a DataFrame; `categorical` names the text columns."""

    def __init__(self, columns: Sequence[str] = (), categorical: Sequence[str] = ()) -> None:
        self.columns = columns
        self.categorical = categorical

    def fit(self, X: Any, y: Any = None) -> RawColumns:
        self.feature_names_in_ = np.asarray(list(self.columns), dtype=object)
        self.n_features_in_ = len(self.columns)
        return self

    def transform(self, X: Any) -> pd.DataFrame:
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ValueError(f"missing column(s) {missing}")
        text = set(self.categorical)
        out = {}
        for column in self.columns:
            series = frame[column]
            if column not in text and series.dtype.kind in "fiu":
                numbers = series.to_numpy(dtype=np.float64, copy=True)
                numbers[np.isinf(numbers)] = np.nan
                out[column] = pd.Series(numbers, dtype=np.float64)
                continue
            values = series.to_numpy(dtype=object)
            if column in text:
                out[column] = pd.Series([canonical_text(v) for v in values], dtype=object)
            else:
                out[column] = pd.Series([canonical_number(v) for v in values], dtype=np.float64)
        return pd.DataFrame(out, columns=list(self.columns))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(list(self.columns), dtype=object)
