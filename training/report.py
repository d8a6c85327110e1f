"""The per-variant training report: metrics (JSON + Markdown) and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve, roc_curve

from tabship.training.figures import plt, save_figure
from tabship.training.train import TrainedVariant

PLOTS = ("pr_curve.png", "roc_curve.png", "calibration.png", "feature_importance.png")


def write_report(trained: TrainedVariant, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    if trained.multiclass:
        from tabship.training.multiclass_report import write_multiclass_report

        return write_multiclass_report(trained, directory, _plot_importance)
    summary = {
        "variant": trained.variant,
        "metrics": trained.metrics,
        "threshold": trained.threshold.as_dict(),
        "rows": trained.rows,
        "best_params": trained.best_params,
        "search": trained.search_results,
    }
    (directory / "metrics.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    (directory / "metrics.md").write_text(_markdown(trained))
    y, p = trained.test_target, trained.test_probability.astype(np.float64)
    _plot_pr(y, p, trained, directory / "pr_curve.png")
    _plot_roc(y, p, directory / "roc_curve.png")
    _plot_calibration(y, p, directory / "calibration.png")
    _plot_importance(trained, directory / "feature_importance.png")
    return [directory / name for name in ("metrics.json", "metrics.md", *PLOTS)]


def _markdown(trained: TrainedVariant) -> str:
    lines = [
        f"# Training report: variant `{trained.variant}`",
        "",
        f"Rows: {trained.rows}. Threshold {trained.threshold.value:.6f} "
        f"({trained.threshold.rule}, chosen on {trained.threshold.chosen_on}).",
        "",
        "| metric (held-out test set) | value |",
        "|---|---|",
        *(f"| {k} | {v:.4f} |" for k, v in trained.metrics.items()),
        "",
        "Best parameters: " + ", ".join(f"`{k}={v}`" for k, v in trained.best_params.items()),
        "",
        "Plots: " + ", ".join(f"[{p}]({p})" for p in PLOTS),
        "",
    ]
    return "\n".join(lines)


def _plot_pr(y: np.ndarray, p: np.ndarray, trained: TrainedVariant, path: Path) -> None:
    precision, recall, _ = precision_recall_curve(y, p)
    figure, axes = plt.subplots(figsize=(5, 4))
    axes.plot(recall, precision)
    chosen = p >= trained.threshold.value
    axes.scatter(
        [trained.metrics["recall"]],
        [trained.metrics["precision"]],
        color="red",
        label=f"threshold {trained.threshold.value:.3f} ({int(chosen.sum())} flagged)",
    )
    axes.set(
        xlabel="recall", ylabel="precision", title=f"PR curve (AP {trained.metrics['pr_auc']:.3f})"
    )
    axes.legend(loc="lower left")
    save_figure(figure, path)


def _plot_roc(y: np.ndarray, p: np.ndarray, path: Path) -> None:
    fpr, tpr, _ = roc_curve(y, p)
    figure, axes = plt.subplots(figsize=(5, 4))
    axes.plot(fpr, tpr)
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey")
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
    save_figure(figure, path)


def _plot_calibration(y: np.ndarray, p: np.ndarray, path: Path) -> None:
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
    figure, axes = plt.subplots(figsize=(5, 4))
    axes.plot(predicted, observed, marker="o")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey")
    axes.set(
        xlabel="mean predicted probability",
        ylabel="observed positive rate",
        title="Calibration (test set)",
    )
    save_figure(figure, path)


def _plot_importance(trained: TrainedVariant, path: Path, top: int = 20) -> None:
    gains = trained.pipeline.named_steps["model"].feature_importances_
    try:
        names = trained.pipeline.named_steps["contract"].get_feature_names_out()
    except AttributeError:  # a user's step without feature names (e.g. FunctionTransformer)
        names = np.asarray([f"f{i}" for i in range(len(gains))])
    order = np.argsort(gains)[::-1][:top][::-1]
    figure, axes = plt.subplots(figsize=(6, 0.3 * len(order) + 1))
    axes.barh([str(names[i]) for i in order], gains[order])
    axes.set(xlabel="importance (gain share)", title="Feature importance")
    save_figure(figure, path)
