"""A user's own fitted pipeline evaluated like a trained variant: test metrics, the threshold,
and the TrainedVariant the report and the release record are written from."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tabship.training.evaluation import Threshold, choose_threshold, held_out_metrics
from tabship.training.multiclass_metrics import multiclass_metrics
from tabship.training.train import TrainedVariant

OWN_VARIANT = "full"  # a fitted pipeline has one feature set: the declaration's default


def own_threshold(
    y_test: np.ndarray, p_test: np.ndarray, threshold: float | None, rule: str | None
) -> Threshold:
    if threshold is not None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold {threshold} must be between 0 and 1")
        return Threshold(value=float(threshold), rule="given", chosen_on="the caller")
    if rule is None:
        return Threshold(value=0.5, rule="predict", chosen_on="scikit-learn's predict (0.5)")
    # The pipeline came fitted: the held-out rows are the only ones it has not seen.
    return choose_threshold(
        y_test, p_test, rule, "test (the held-out rows; metrics are optimistic)"
    )


def evaluate_own(
    reference: Any,
    declaration: Any,
    train: tuple[pd.DataFrame, np.ndarray],
    test: tuple[pd.DataFrame, np.ndarray],
    classes: list[str] | None,
    *,
    threshold: float | None = None,
    threshold_rule: str | None = None,
    rows: dict[str, int] | None = None,
) -> TrainedVariant:
    (x_train, y_train), (x_test, y_test) = train, test
    probabilities = reference.predict_proba(x_test)
    counts = rows or {"train": len(x_train), "test": len(x_test)}
    common: dict[str, Any] = {
        "variant": OWN_VARIANT,
        "declaration": declaration,
        "pipeline": reference,
        "best_params": {},
        "search_results": [],
        "rows": counts,
        "train_frame": x_train.reset_index(drop=True),
        "train_target": np.asarray(y_train),
        "test_frame": x_test.reset_index(drop=True),
        "test_target": np.asarray(y_test),
    }
    if classes:
        metrics, per_class = multiclass_metrics(np.asarray(y_test), probabilities, tuple(classes))
        return TrainedVariant(
            threshold=None,
            metrics=metrics,
            test_probability=probabilities,
            classes=tuple(classes),
            per_class=per_class,
            **common,
        )
    p = probabilities[:, 1]
    chosen = own_threshold(np.asarray(y_test), p, threshold, threshold_rule)
    return TrainedVariant(
        threshold=chosen,
        metrics=held_out_metrics(np.asarray(y_test), p, chosen.value),
        test_probability=p,
        **common,
    )
