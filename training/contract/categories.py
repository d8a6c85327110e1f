from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from tabship.contract import spelling
from tabship.training.contract._validation import as_text, raw_array


class _CategoryMatcher(TransformerMixin, BaseEstimator):
    """Shared by the category transformers: per input column, canonical labels and the
    patterns that recognise their spellings."""

    aliases: Mapping[str, Mapping[str, str]] | None
    integer_codes: Sequence[str] | None

    def _column_rules(self, names: list[str]) -> list[tuple[dict[str, str], bool]]:
        aliases = self.aliases or {}
        integer = set(self.integer_codes or ())
        unknown = (set(aliases) | integer) - set(names)
        if unknown and names:
            raise ValueError(
                f"rules name columns {sorted(unknown)}, which are not among the inputs"
            )
        return [(dict(aliases.get(name, {})), name in integer) for name in names]

    def _names(self) -> list[str]:
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            return [f"x{i}" for i in range(self.n_features_in_)]
        return [str(n) for n in names]

    def _match(self, values: np.ndarray, column: int) -> np.ndarray:
        """Per row: index into the column's labels, -1 unknown, -2 missing."""
        compiled = [re.compile(p) for p in self.patterns_[column]]
        missing = re.compile(spelling.MISSING_PATTERN)
        uniques, inverse = np.unique(values, return_inverse=True)
        codes = np.array(
            [spelling.match_index(u, compiled, missing) for u in uniques], dtype=np.int64
        )
        return codes[inverse.reshape(-1)]

    def _learn(self, X: Any, labels_for: Any) -> np.ndarray:
        values = as_text(raw_array(self, X, reset=True))
        self.rules_ = self._column_rules(
            self._names() if hasattr(self, "feature_names_in_") else []
        )
        if not self.rules_:
            self.rules_ = [({}, False)] * self.n_features_in_
        self.categories_ = [
            labels_for(values[:, j], aliases, integer)
            for j, (aliases, integer) in enumerate(self.rules_)
        ]
        for name, labels, (aliases, integer) in zip(
            self._names(), self.categories_, self.rules_, strict=True
        ):
            shared = None if integer else spelling.shared_spelling(labels, aliases)
            if shared is not None:
                raise ValueError(
                    f"column {name!r}: the spelling {shared!r} would match two categories; "
                    "an alias must map to a final label, not to another alias"
                )
        self.patterns_ = [
            [spelling.label_pattern(label, aliases, integer) for label in labels]
            for labels, (aliases, integer) in zip(self.categories_, self.rules_, strict=True)
        ]
        return values

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        return tags


class CategoryEncoder(_CategoryMatcher):
    """Raw categorical columns -> dense one-hot float64, spelling normalised.

    Per column: one indicator per label learned in fit (canonical, lower-cased; `aliases`
    {column: {spelling: label}} folded in; columns in `integer_codes` read 2, 2.0, "2" and "02"
    alike), then an `__unknown__` indicator (values never seen in training) and a
    `__missing__` indicator (None, NaN, empty or blank text). Dense on purpose: XGBoost reads
    the implicit zeros of a sparse matrix as missing, the ONNX graph would not.
    """

    def __init__(
        self,
        aliases: Mapping[str, Mapping[str, str]] | None = None,
        integer_codes: Sequence[str] | None = None,
    ) -> None:
        self.aliases = aliases
        self.integer_codes = integer_codes

    def fit(self, X: Any, y: Any = None) -> CategoryEncoder:
        self._learn(X, spelling.learn_labels)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "patterns_")
        values = as_text(raw_array(self, X, reset=False))
        blocks = []
        for column, labels in enumerate(self.categories_):
            codes = self._match(values[:, column], column)
            block = np.zeros((values.shape[0], len(labels) + 2), dtype=np.float64)
            slots = np.where(codes >= 0, codes, np.where(codes == -1, len(labels), len(labels) + 1))
            block[np.arange(values.shape[0]), slots] = 1.0
            blocks.append(block)
        return np.hstack(blocks)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "patterns_")
        out = []
        for name, labels in zip(self._names(), self.categories_, strict=True):
            out += [f"{name}={label}" for label in [*labels, spelling.UNKNOWN, spelling.MISSING]]
        return np.asarray(out, dtype=object)


class CategoryNumber(_CategoryMatcher):
    """One categorical column -> a number per label (e.g. month name -> 1..12), NaN otherwise.

    `mapping` {label: number} with `aliases` {column: {spelling: label}}; without a mapping the
    labels seen in fit are numbered 1..k in sorted order. Unknown and missing values are NaN.
    """

    def __init__(
        self,
        mapping: Mapping[str, float] | None = None,
        aliases: Mapping[str, Mapping[str, str]] | None = None,
        integer_codes: Sequence[str] | None = None,
    ) -> None:
        self.mapping = mapping
        self.aliases = aliases
        self.integer_codes = integer_codes

    def fit(self, X: Any, y: Any = None) -> CategoryNumber:
        def labels_for(values: np.ndarray, aliases: dict[str, str], integer: bool) -> list[str]:
            if self.mapping is not None:
                return sorted(self.mapping)
            return spelling.learn_labels(values, aliases, integer)

        self._learn(X, labels_for)
        if self.mapping is not None:
            self.numbers_ = [
                np.array([float(self.mapping[k]) for k in c]) for c in self.categories_
            ]
        else:
            self.numbers_ = [np.arange(1.0, len(c) + 1.0) for c in self.categories_]
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "numbers_")
        values = as_text(raw_array(self, X, reset=False))
        out = np.full(values.shape, np.nan, dtype=np.float64)
        for column, numbers in enumerate(self.numbers_):
            codes = self._match(values[:, column], column)
            known = codes >= 0
            out[known, column] = numbers[codes[known]]
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "numbers_")
        return np.asarray([f"{name}_number" for name in self._names()], dtype=object)
