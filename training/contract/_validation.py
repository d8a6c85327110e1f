"""Shared input handling for the contract transformers."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import validate_data

from tabship.contract.values import category_text, number_value

_to_float = np.frompyfunc(number_value, 1, 1)
_to_text = np.frompyfunc(category_text, 1, 1)


def raw_array(estimator: BaseEstimator, X: Any, *, reset: bool) -> np.ndarray:
    """X as a 2-D array with its dtype kept (text stays text), checking the column count."""
    values: np.ndarray = validate_data(
        estimator, X, dtype=None, ensure_all_finite=False, reset=reset, ensure_min_samples=1
    )
    return values


def as_float64(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "fiu":
        return values.astype(np.float64)
    return _to_float(values).astype(np.float64) if values.size else values.astype(np.float64)


def as_text(values: np.ndarray) -> np.ndarray:
    return _to_text(values).astype(object) if values.size else values.astype(object)
