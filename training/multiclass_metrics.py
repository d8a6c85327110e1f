"""Held-out metrics of a multiclass model; its decision is the arg-max (ties: lowest index)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)


def argmax_decision(probabilities: np.ndarray) -> np.ndarray:
    """numpy's argmax: the first (lowest-index) class among equal probabilities, as the graph's
    ArgMax(select_last_index=0) and scikit-learn's predict do."""
    decision: np.ndarray = np.argmax(probabilities, axis=1)
    return decision


def multiclass_metrics(
    y_true: np.ndarray, probabilities: np.ndarray, classes: tuple[str, ...]
) -> tuple[dict[str, float], dict[str, dict[str, float | None]]]:
    """(flat metrics for the manifest, per-class precision / recall / F1 / ROC AUC / support)."""
    k = len(classes)
    labels = list(range(k))
    p = probabilities.astype(np.float64)
    # float32 rows sum to 1 only within a few ulp; log_loss wants them exact
    p = p / p.sum(axis=1, keepdims=True)
    predicted = argmax_decision(p)
    one_hot = np.eye(k)[y_true]
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, predicted, labels=labels, zero_division=0
    )
    present = [i for i in labels if support[i] > 0]
    # One-vs-rest AUC per class; a class without test rows has none.
    auc = {
        i: float(roc_auc_score(one_hot[:, i], p[:, i])) for i in present if support[i] < len(y_true)
    }
    metrics = {
        "log_loss": float(log_loss(y_true, p, labels=labels)),
        "accuracy": float(accuracy_score(y_true, predicted)),
        "f1_macro": float(
            f1_score(y_true, predicted, labels=labels, average="macro", zero_division=0)
        ),
        "f1_weighted": float(
            f1_score(y_true, predicted, labels=labels, average="weighted", zero_division=0)
        ),
        "precision_macro": float(np.mean(precision)),
        "recall_macro": float(np.mean(recall)),
        "roc_auc_ovr_macro": float(np.mean(list(auc.values()))) if auc else float("nan"),
        "brier": float(np.mean(np.sum((p - one_hot) ** 2, axis=1))),
    }
    per_class = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "roc_auc_ovr": auc.get(i),
            "support": float(support[i]),
        }
        for i, name in enumerate(classes)
    }
    return metrics, per_class


def confusion(y_true: np.ndarray, probabilities: np.ndarray, k: int) -> np.ndarray:
    matrix: np.ndarray = confusion_matrix(
        y_true, argmax_decision(probabilities), labels=list(range(k))
    )
    return matrix
