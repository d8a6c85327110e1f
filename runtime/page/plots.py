"""The report's plots of a version, read from beside the model and checked against the
SHA-256 the manifest recorded at export. A plot that cannot be shown says why; the model is
served either way (a page is not worth refusing a verified model for)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from tabship.contract.errors import ModelRefused
from tabship.runtime.model.artifact import fetch
from tabship.runtime.settings import Settings

# file -> caption, in the order the page shows them (training/report.py writes them)
PLOTS = {
    "pr_curve.png": "Precision-recall curve (test set)",
    "roc_curve.png": "ROC curve (test set)",
    "calibration.png": "Calibration (test set)",
    "feature_importance.png": "Feature importance (gain)",
}
# a multiclass report (training/multiclass_report.py)
MULTICLASS_PLOTS = {
    "confusion_matrix.png": "Confusion matrix (test set)",
    "pr_curves.png": "Precision-recall curve per class, one-vs-rest (test set)",
    "feature_importance.png": "Feature importance (gain)",
}
REPORT_FOLDER = "report"
MAX_PLOT_BYTES = 8 * 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Plot:
    file: str
    caption: str
    data: bytes | None  # PNG bytes that matched the manifest, else None
    reason: str | None = None  # why it is not shown


def _sibling(model_location: str, name: str) -> str:
    folder, _, _ = model_location.rpartition("/")
    return f"{folder}/{name}" if folder else name


def load_plots(manifest: dict[str, Any], model_location: str, settings: Settings) -> list[Plot]:
    recorded = manifest.get("report", {}).get("files", {})
    if not isinstance(recorded, dict):
        recorded = {}
    plots = []
    for file, caption in (MULTICLASS_PLOTS if "target" in manifest else PLOTS).items():
        entry = recorded.get(file)
        expected = entry.get("sha256") if isinstance(entry, dict) else None
        if not isinstance(expected, str):
            plots.append(Plot(file, caption, None, "not recorded in this version's manifest"))
            continue
        if "?" in (settings.model_uri or ""):
            plots.append(Plot(file, caption, None, "a presigned MODEL_URI names no folder"))
            continue
        where = _sibling(model_location, f"{REPORT_FOLDER}/{file}")
        try:
            data = fetch(where, settings, MAX_PLOT_BYTES)
        except ModelRefused as error:
            plots.append(Plot(file, caption, None, str(error)))
            continue
        if hashlib.sha256(data).hexdigest() != expected.lower():
            plots.append(Plot(file, caption, None, f"{where}: SHA-256 differs from the manifest"))
        elif not data.startswith(PNG_SIGNATURE):
            plots.append(Plot(file, caption, None, f"{where}: not a PNG image"))
        else:
            plots.append(Plot(file, caption, data))
    return plots
