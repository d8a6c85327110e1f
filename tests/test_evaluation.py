"""Threshold choice and held-out metrics."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score

from tabship.training.evaluation import choose_threshold, held_out_metrics, parse_rule


@pytest.fixture
def scored() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    y = (rng.random(3000) < 0.2).astype(int)
    p = np.clip(0.35 * y + rng.normal(0.3, 0.15, y.size), 0, 1).astype(np.float32)
    return y, p


def test_max_f1_threshold_is_optimal_and_off_every_observed_probability(
    scored: tuple[np.ndarray, np.ndarray],
) -> None:
    y, p = scored
    threshold = choose_threshold(y, p, "max_f1", "validation")
    assert threshold.value not in set(p.astype(np.float64).tolist())
    chosen = f1_score(y, p >= threshold.value)
    every = [f1_score(y, p >= t) for t in np.unique(p)[::25]]
    assert chosen >= max(every) - 1e-12


def test_min_precision_rule_reaches_the_floor_with_the_best_recall(
    scored: tuple[np.ndarray, np.ndarray],
) -> None:
    y, p = scored
    threshold = choose_threshold(y, p, "min_precision:0.8", "validation")
    assert precision_score(y, p >= threshold.value) >= 0.8
    assert threshold.rule == "min_precision:0.8"


def test_unreachable_precision_and_bad_rules_are_clear_errors() -> None:
    y, p = np.array([0, 1, 0]), np.array([0.9, 0.1, 0.2])  # best precision is 1/3
    with pytest.raises(ValueError, match="no threshold reaches precision"):
        choose_threshold(y, p, "min_precision:0.5", "validation")
    for rule in ("best", "min_precision:2", "min_precision:x"):
        with pytest.raises(ValueError, match="threshold rule"):
            parse_rule(rule)


def test_metrics_at_the_threshold(scored: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = scored
    metrics = held_out_metrics(y, p, 0.5)
    assert set(metrics) >= {"roc_auc", "pr_auc", "f1", "precision", "recall", "log_loss", "brier"}
    assert metrics["precision"] == pytest.approx(precision_score(y, p >= 0.5))
    assert 0.5 < metrics["roc_auc"] <= 1.0
