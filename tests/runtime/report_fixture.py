"""Adds a training report to a fixture version, as export does: real PNG plots drawn with
matplotlib in report/, and the manifest's `report` record of their SHA-256 and size."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

PLOTS = ("pr_curve.png", "roc_curve.png", "calibration.png", "feature_importance.png")


def _draw(path: Path, title: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, 50)
    figure, axes = plt.subplots(figsize=(5, 4))
    axes.plot(x, np.clip(x ** (0.3 + seed / 10) + rng.normal(0, 0.01, 50), 0, 1))
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey")
    axes.set(title=title)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def add_report(version_dir: Path) -> dict[str, str]:
    """Returns file -> SHA-256 of the plots written."""
    folder = version_dir / "report"
    folder.mkdir()
    for seed, name in enumerate(PLOTS):
        _draw(folder / name, name.removesuffix(".png").replace("_", " "), seed)
    (folder / "metrics.md").write_text("# report\n")
    files = {
        p.name: {"sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "bytes": p.stat().st_size}
        for p in sorted(folder.iterdir())
    }
    manifest_path = version_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["report"] = {"folder": "report", "files": files}
    manifest["parity"] = {
        "status": "passed",
        "checked_at": "2026-11-26T07:05:00Z",
        "bar": {"max_abs_dp": 1e-06, "flips": 0, "threshold_flips": 0},
        "sets": [
            {
                "name": "test",
                "rows": 2,
                "max_abs_dp": 0.0,
                "flips": 0,
                "threshold_flips": 0,
                "passed": True,
                "error": None,
                "note": None,
            },
            {
                "name": "hostile",
                "rows": 40,
                "max_abs_dp": 5.9e-08,
                "flips": 0,
                "threshold_flips": 0,
                "passed": True,
                "error": None,
                "note": None,
            },
        ],
    }
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return {name: entry["sha256"] for name, entry in files.items()}
