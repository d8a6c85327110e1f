"""Rows for the live-evidence tests: a training-like table for the fixture model's columns
(and the same rows shifted), its drift reference written into a fixture version's manifest
the way export writes it, and JSON rows to send."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fixture_model import CATEGORICAL

from tabship.contract.drift import DRIFT_KEY
from tabship.export.live_reference import drift_reference


def table(n: int, seed: int, *, shift: bool = False) -> pd.DataFrame:
    """n rows over the fixture's columns; `shift` moves PageValues up, Month to december and
    adds unseen visitor types and missing exit rates."""
    rng = np.random.default_rng(seed)
    page_values = rng.gamma(2.0, 20.0, n) + (250.0 if shift else 0.0)
    exit_rates = rng.uniform(0.0, 0.2, n)
    exit_rates[rng.random(n) < (0.3 if shift else 0.05)] = np.nan
    months = CATEGORICAL["Month"][3]
    month = rng.choice(["dec", "December"] if shift else months, n)
    visitor = rng.choice(["new_visitor", "returning_visitor", "Other"], n).astype(object)
    if shift:
        visitor[rng.random(n) < 0.2] = "robot"
    return pd.DataFrame(
        {
            "PageValues": page_values,
            "ExitRates": exit_rates,
            "Administrative": rng.integers(0, 27, n).astype(float),
            "Month": month,
            "VisitorType": visitor,
            "OperatingSystems": rng.choice(["1", "2", "3", "02", None], n),
        }
    )


def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON rows: NaN and None as null."""
    out = []
    for record in frame.to_dict(orient="records"):
        out.append(
            {
                k: (None if v is None or (isinstance(v, float) and np.isnan(v)) else v)
                for k, v in record.items()
            }
        )
    return out


def add_drift(folder: Path, frame: pd.DataFrame) -> dict[str, Any]:
    """The manifest's drift section from `frame`, as export/live_reference.py builds it."""
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest[DRIFT_KEY] = drift_reference(manifest["inputs"], frame)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest
