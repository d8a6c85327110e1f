"""Test metrics and the decision threshold."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)


@dataclass(frozen=True)
class Threshold:
    value: float
    rule: str
    chosen_on: str

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "applies_to": "decision = probabilities[:, 1] >= value"}


def parse_rule(rule: str) -> tuple[str, float | None]:
    if rule == "max_f1":
        return rule, None
    if rule.startswith("min_precision:"):
        try:
            floor = float(rule.split(":", 1)[1])
        except ValueError:
            floor = -1.0
        if 0.0 < floor < 1.0:
            return "min_precision", floor
    raise ValueError(f"threshold rule {rule!r}: use 'max_f1' or 'min_precision:P' with 0 < P < 1")


def choose_threshold(
    y_true: np.ndarray, p_positive: np.ndarray, rule: str, chosen_on: str
) -> Threshold:
    """A threshold per the rule on the PR curve, between two observed probabilities."""
    kind, floor = parse_rule(rule)
    precision, recall, thresholds = precision_recall_curve(y_true, p_positive)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    if kind == "max_f1":
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
        best = int(np.argmax(f1))
    else:
        reaching = np.flatnonzero(precision >= floor)
        if reaching.size == 0:
            raise ValueError(f"threshold rule {rule!r}: no threshold reaches precision {floor}")
        best = int(reaching[np.argmax(recall[reaching])])
    # The midpoint below the chosen probability classifies the validation rows identically
    # and keeps the threshold off any observed probability: a row sitting exactly on it would
    # flip on the ~1e-7 differences between tree-summation orders (the parity gate saw it).
    below = float(thresholds[best - 1]) if best > 0 else 0.0
    return Threshold(value=(below + float(thresholds[best])) / 2, rule=rule, chosen_on=chosen_on)


def held_out_metrics(
    y_true: np.ndarray, p_positive: np.ndarray, threshold: float
) -> dict[str, float]:
    predicted = (p_positive.astype(np.float64) >= threshold).astype(int)
    return {
        "roc_auc": float(roc_auc_score(y_true, p_positive)),
        "pr_auc": float(average_precision_score(y_true, p_positive)),
        "f1": float(f1_score(y_true, predicted, zero_division=0)),
        "precision": float(precision_score(y_true, predicted, zero_division=0)),
        "recall": float(recall_score(y_true, predicted, zero_division=0)),
        "log_loss": float(log_loss(y_true, p_positive.astype(np.float64), labels=[0, 1])),
        "brier": float(brier_score_loss(y_true, p_positive.astype(np.float64))),
        "positive_rate": float(np.mean(y_true)),
        "predicted_positive_rate": float(np.mean(predicted)),
    }
