"""Training one variant: split, search, threshold, test metrics. No I/O besides the progress line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import loguniform, randint, uniform
from sklearn.base import clone
from sklearn.model_selection import (
    ParameterSampler,
    StratifiedKFold,
    cross_val_predict,
    cross_val_score,
    train_test_split,
)
from sklearn.pipeline import Pipeline

from tabship.contract.progress import Progress
from tabship.training.declaration import Declaration
from tabship.training.evaluation import Threshold, choose_threshold, held_out_metrics
from tabship.training.multiclass_metrics import multiclass_metrics
from tabship.training.pipeline import RANDOM_STATE, build_pipeline
from tabship.training.prepare import PreparedData

TEST_SIZE = 0.2
CV_FOLDS = 3

SEARCH_SPACE: dict[str, Any] = {
    "model__n_estimators": randint(100, 401),
    "model__max_depth": randint(3, 8),
    "model__learning_rate": loguniform(0.02, 0.3),
    "model__subsample": uniform(0.6, 0.4),
    "model__colsample_bytree": uniform(0.5, 0.5),
    "model__min_child_weight": randint(1, 11),
    "model__reg_lambda": loguniform(0.1, 10.0),
}


@dataclass
class TrainedVariant:
    variant: str
    declaration: Declaration
    pipeline: Pipeline
    threshold: Threshold | None  # None for multiclass: the decision is the arg-max
    metrics: dict[str, float]
    best_params: dict[str, Any]
    search_results: list[dict[str, Any]]
    rows: dict[str, int]
    train_frame: pd.DataFrame
    train_target: np.ndarray
    test_frame: pd.DataFrame
    test_target: np.ndarray
    test_probability: np.ndarray
    classes: tuple[str, ...] = ()  # multiclass: names in probability-column order
    per_class: dict[str, dict[str, float | None]] = field(default_factory=dict)

    @property
    def multiclass(self) -> bool:
        return bool(self.classes)


def train_variant(
    prepared: PreparedData,
    declaration: Declaration,
    variant: str,
    *,
    search_iterations: int,
    threshold_rule: str = "max_f1",
    search_space: dict[str, Any] | None = None,
) -> TrainedVariant:
    contract = declaration.for_variant(variant)
    frame = prepared.features[contract.raw_columns]
    x_train, x_test, y_train, y_test = train_test_split(
        frame,
        prepared.target,
        test_size=TEST_SIZE,
        stratify=prepared.target,
        random_state=RANDOM_STATE,
    )
    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=RANDOM_STATE)
    multiclass = declaration.multiclass
    # multi:softprob gives the [N, K] probabilities the graph exports; log loss ranks them.
    # Two declared classes keep XGBoost's binary objective (softprob refuses K = 2): the
    # probabilities are still one column per class and the decision the arg-max.
    base = (
        build_pipeline(contract, objective="multi:softprob", eval_metric="mlogloss")
        if multiclass and len(prepared.classes) > 2
        else build_pipeline(contract)
    )
    scoring, key = (
        ("neg_log_loss", "neg_log_loss") if multiclass else ("average_precision", "pr_auc")
    )

    # A hand-rolled loop over the sampled candidates rather than RandomizedSearchCV, only so
    # the search can report progress; scoring and folds are the standard ones.
    results: list[dict[str, Any]] = []
    candidates = list(
        ParameterSampler(search_space or SEARCH_SPACE, search_iterations, random_state=RANDOM_STATE)
    )
    with Progress(f"[{variant}] search", total=len(candidates)) as progress:
        for params in candidates:
            params = {k: _plain(v) for k, v in params.items()}
            scores = cross_val_score(
                clone(base).set_params(**params),
                x_train,
                y_train,
                cv=folds,
                scoring=scoring,
            )
            results.append(
                {
                    "params": params,
                    f"{key}_mean": float(scores.mean()),
                    f"{key}_std": float(scores.std()),
                }
            )
            progress.advance()
    best = max(results, key=lambda r: r[f"{key}_mean"])["params"] if results else {}
    chosen = clone(base).set_params(**best)
    rows = {
        "raw": prepared.raw_rows,
        "clean": len(frame),
        "train": len(x_train),
        "test": len(x_test),
    }
    if multiclass:
        with Progress(f"[{variant}] final fit", total=1) as progress:
            pipeline = chosen.fit(x_train, y_train)
            progress.advance()
        probabilities = pipeline.predict_proba(x_test)
        metrics, per_class = multiclass_metrics(y_test, probabilities, prepared.classes)
        return TrainedVariant(
            variant=variant,
            declaration=contract,
            pipeline=pipeline,
            threshold=None,
            metrics=metrics,
            best_params=best,
            search_results=results,
            rows=rows,
            train_frame=x_train.reset_index(drop=True),
            train_target=np.asarray(y_train),
            test_frame=x_test.reset_index(drop=True),
            test_target=np.asarray(y_test),
            test_probability=probabilities,
            classes=prepared.classes,
            per_class=per_class,
        )

    with Progress(f"[{variant}] threshold + final fit", total=2) as progress:
        # The threshold is chosen on out-of-fold predictions: validation data the model
        # that made them never saw, without giving up training rows.
        out_of_fold = cross_val_predict(chosen, x_train, y_train, cv=folds, method="predict_proba")
        threshold = choose_threshold(
            y_train, out_of_fold[:, 1], threshold_rule, "out_of_fold_train"
        )
        progress.advance()
        pipeline = chosen.fit(x_train, y_train)
        progress.advance()

    probability = pipeline.predict_proba(x_test)[:, 1]
    return TrainedVariant(
        variant=variant,
        declaration=contract,
        pipeline=pipeline,
        threshold=threshold,
        metrics=held_out_metrics(y_test, probability, threshold.value),
        best_params=best,
        search_results=results,
        rows=rows,
        train_frame=x_train.reset_index(drop=True),
        train_target=np.asarray(y_train),
        test_frame=x_test.reset_index(drop=True),
        test_target=np.asarray(y_test),
        test_probability=probability,
    )


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars, so parameters serialise to JSON."""
    return value.item() if isinstance(value, np.generic) else value
