"""Small multiclass versions for the tests: the Palmer penguins (three classes, real missing
values) and a generated six-class table with one rare class. Trained with few trees and a
two-candidate search so the suite stays fast; exported and gated like `tabship train` does."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import randint

from tabship.training.declaration import Declaration, load_declaration

DATA = Path(__file__).resolve().parent / "data"
PENGUINS = DATA / "penguins.toml"
FAILURES = DATA / "failures.toml"
FAILURE_MODES = ("ok", "overheat", "bearing", "leak", "electrical")
RARE_MODE = "sensor_fault"
SMALL_SPACE: dict[str, Any] = {
    "model__n_estimators": randint(12, 25),
    "model__max_depth": randint(2, 4),
}


@dataclass
class MulticlassVersion:
    version_dir: Path
    declaration: Declaration
    frame: pd.DataFrame
    trained: Any
    gate: Any
    outcome: dict[str, Any]


def penguins_frame() -> pd.DataFrame:
    import palmerpenguins

    return palmerpenguins.load_penguins()


def failures_frame(rows: int = 900, seed: int = 7) -> pd.DataFrame:
    """Six failure modes; sensor_fault is ~2% of rows. Spellings of the target vary in case
    and whitespace as real extracts do; a few cells are missing."""
    rng = np.random.default_rng(seed)
    weights = np.array([0.34, 0.2, 0.18, 0.14, 0.12, 0.02])
    modes = rng.choice(len(weights), size=rows, p=weights)
    temperature = 60 + 8 * rng.standard_normal(rows) + np.where(modes == 1, 25, 0)
    vibration = np.abs(1 + 0.3 * rng.standard_normal(rows) + np.where(modes == 2, 1.5, 0))
    pressure = 5 + rng.standard_normal(rows) - np.where(modes == 3, 2.5, 0)
    lines = np.array(["A", "B", "C"])
    line = np.where(modes == 4, "C", lines[rng.integers(0, 3, rows)])
    sensor = modes == 5
    temperature[sensor] = rng.choice([-40.0, 250.0], size=int(sensor.sum()))
    names = np.array([*FAILURE_MODES, RARE_MODE], dtype=object)
    target = names[modes]
    spell = rng.random(rows)
    target = np.where(spell < 0.1, [f"  {t.upper()} " for t in target], target)
    frame = pd.DataFrame(
        {
            "temperature": temperature.round(2),
            "vibration": vibration.round(3),
            "pressure": pressure.round(2),
            "line": line,
            "mode": target,
        }
    )
    for column in ("temperature", "pressure", "line"):
        frame.loc[rng.random(rows) < 0.03, column] = None
    return frame


def build_version(
    root: Path, frame: pd.DataFrame, declaration_path: Path, *, generated: int = 300
) -> MulticlassVersion:
    from tabship.export.artifact import ReleaseCandidate
    from tabship.export.registry import Registry
    from tabship.release.flow import release_candidate
    from tabship.training.data_sources import table_sha256
    from tabship.training.prepare import prepare
    from tabship.training.report import write_report
    from tabship.training.train import train_variant

    declaration = load_declaration(declaration_path)
    prepared = prepare(frame, declaration, declaration_path.stem)
    declaration = declaration.with_classes(prepared.classes)
    trained = train_variant(
        prepared, declaration, "full", search_iterations=2, search_space=SMALL_SPACE
    )
    report_dir = root / "report"
    write_report(trained, report_dir)
    data_info = {"source": declaration_path.stem, "sha256": table_sha256(frame)}
    candidate = ReleaseCandidate.from_trained(
        trained, data_info, declaration, report_dir=report_dir
    )
    released = release_candidate(candidate, Registry(root / "models"), generated=generated)
    version_dir, gate, outcome = released.folder, released.gate, released.outcome
    return MulticlassVersion(version_dir, declaration, frame, trained, gate, outcome)
