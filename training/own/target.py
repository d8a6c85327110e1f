"""The target of a user's own pipeline: the values given -> the class indices the fitted
XGBClassifier predicts (0..K-1), and the class names the manifest carries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from tabship.contract.values import category_text
from tabship.training.own.contract import ContractError


def encode_target(
    values: Any,
    n_classes: int,
    *,
    positive: str | None = None,
    classes: Sequence[str] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """(class index per row, class names). Integers 0..K-1 are taken as the model's own
    classes; other values are matched to `classes` (or, binary, to `positive`), else sorted
    (scikit-learn's LabelEncoder order). A row without a target is an error, never a guess."""
    series = pd.Series(np.asarray(values, dtype=object).reshape(-1))
    texts = [category_text(v) for v in series.tolist()]
    if any(t == "" for t in texts):
        raise ContractError("the target has missing values: drop those rows first")
    if classes is not None and len(classes) != n_classes:
        raise ContractError(f"{len(classes)} class names for a model of {n_classes} classes")
    if n_classes == 2 and positive is not None:
        found = sorted(set(texts))
        if positive not in found:
            raise ContractError(f"positive value {positive!r} is not in the target ({found})")
        if len(found) != 2:
            raise ContractError(f"a binary target needs two values, found {found}")
        return np.asarray([t == positive for t in texts], dtype=np.int64), [
            next(v for v in found if v != positive),
            positive,
        ]
    own = [str(i) for i in range(n_classes)]
    if set(texts) <= set(own):
        names = list(classes) if classes is not None else own
        return np.asarray([int(t) for t in texts], dtype=np.int64), names
    names = list(classes) if classes is not None else sorted(set(texts))
    unknown = sorted(set(texts) - set(names))
    if unknown or len(names) != n_classes:
        raise ContractError(
            f"target values {sorted(set(texts))[:10]} do not match the model's {n_classes} "
            "classes (give the class names in the model's order, or the codes 0..K-1)"
        )
    index = {name: i for i, name in enumerate(names)}
    return np.asarray([index[t] for t in texts], dtype=np.int64), names
