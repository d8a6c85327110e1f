from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data


class Float32Cast(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """float64 -> float32, made explicit where XGBoost would cast internally.

    Having the cast as a pipeline step puts the single float32 rounding at the same place in
    the scikit-learn pipeline and in the ONNX graph (a Cast node just before the trees).
    """

    def fit(self, X: Any, y: Any = None) -> Float32Cast:
        validate_data(self, X, dtype=np.float64, ensure_all_finite=False, reset=True)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        values: np.ndarray = validate_data(
            self, X, dtype=np.float64, ensure_all_finite=False, reset=False
        )
        with np.errstate(over="ignore"):  # beyond float32 range -> +/-inf, like ONNX Cast
            return values.astype(np.float32)

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = []
        return tags
