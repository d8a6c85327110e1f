"""The training report of a multiclass variant: metrics (JSON + Markdown), a confusion matrix and
one precision-recall curve per class (one-vs-rest)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve

from tabship.training.figures import plt, save_figure
from tabship.training.multiclass_metrics import confusion
from tabship.training.train import TrainedVariant

PLOTS = ("confusion_matrix.png", "pr_curves.png", "feature_importance.png")


def write_multiclass_report(
    trained: TrainedVariant,
    directory: Path,
    plot_importance: Callable[[TrainedVariant, Path], None],
) -> list[Path]:
    matrix = confusion(trained.test_target, trained.test_probability, len(trained.classes))
    summary = {
        "variant": trained.variant,
        "classes": list(trained.classes),
        "decision": "argmax",
        "metrics": trained.metrics,
        "per_class": trained.per_class,
        "confusion_matrix": matrix.tolist(),
        "rows": trained.rows,
        "best_params": trained.best_params,
        "search": trained.search_results,
    }
    (directory / "metrics.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    (directory / "metrics.md").write_text(_markdown(trained, matrix))
    _plot_confusion(matrix, trained.classes, directory / "confusion_matrix.png")
    _plot_pr_curves(trained, directory / "pr_curves.png")
    plot_importance(trained, directory / "feature_importance.png")
    return [directory / name for name in ("metrics.json", "metrics.md", *PLOTS)]


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _markdown(trained: TrainedVariant, matrix: np.ndarray) -> str:
    names = list(trained.classes)
    lines = [
        f"# Training report: variant `{trained.variant}` (multiclass)",
        "",
        f"Rows: {trained.rows}. Classes (output order): {', '.join(names)}. Decision: the "
        "class of highest probability (ties: the lowest index).",
        "",
        "| metric (held-out test set) | value |",
        "|---|---|",
        *(f"| {k} | {v:.4f} |" for k, v in trained.metrics.items()),
        "",
        "| class | precision | recall | F1 | ROC AUC (one-vs-rest) | test rows |",
        "|---|---|---|---|---|---|",
        *(
            f"| {name} | {_number(m['precision'])} | {_number(m['recall'])} | "
            f"{_number(m['f1'])} | {_number(m['roc_auc_ovr'])} | {int(m['support'] or 0)} |"
            for name, m in trained.per_class.items()
        ),
        "",
        "Confusion matrix (rows: true class, columns: predicted):",
        "",
        "| true \\\\ predicted | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
        *(
            f"| {name} | " + " | ".join(str(int(v)) for v in row) + " |"
            for name, row in zip(names, matrix, strict=True)
        ),
        "",
        "Best parameters: " + ", ".join(f"`{k}={v}`" for k, v in trained.best_params.items()),
        "",
        "Plots: " + ", ".join(f"[{p}]({p})" for p in PLOTS),
        "",
    ]
    return "\n".join(lines)


def _plot_confusion(matrix: np.ndarray, classes: tuple[str, ...], path: Path) -> None:
    k = len(classes)
    figure, axes = plt.subplots(figsize=(1.1 * k + 2.5, 1.0 * k + 2))
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(k), classes, rotation=45, ha="right")
    axes.set_yticks(range(k), classes)
    high = matrix.max() / 2 if matrix.size else 0
    for i in range(k):
        for j in range(k):
            color = "white" if matrix[i, j] > high else "black"
            axes.text(j, i, str(int(matrix[i, j])), ha="center", va="center", color=color)
    axes.set(xlabel="predicted class", ylabel="true class", title="Confusion matrix (test set)")
    save_figure(figure, path)


def _plot_pr_curves(trained: TrainedVariant, path: Path) -> None:
    y, p = trained.test_target, trained.test_probability.astype(np.float64)
    figure, axes = plt.subplots(figsize=(6, 4.5))
    for index, name in enumerate(trained.classes):
        truth = (y == index).astype(int)
        if truth.sum() == 0:
            continue
        precision, recall, _ = precision_recall_curve(truth, p[:, index])
        ap = average_precision_score(truth, p[:, index])
        axes.plot(recall, precision, label=f"{name} (AP {ap:.3f})")
    axes.set(xlabel="recall", ylabel="precision", title="PR curve per class (one-vs-rest)")
    axes.legend(loc="lower left", fontsize="small")
    save_figure(figure, path)
