"""What the serving side's live evidence needs from training, written into the manifest at
export: each column's drift reference (tabship/contract/drift.py) from the raw training rows,
and the columns the declaration marks `sensitive` (never captured)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tabship.contract.drift import QUANTILES, reference_column
from tabship.contract.manifest import NUMERIC
from tabship.contract.values import category_text
from tabship.training.declaration import Declaration


def raw_values(entry: dict[str, Any], column: pd.Series) -> np.ndarray | list[str]:
    """A training column as the server's validation hands values on: numbers as float64
    (NaN missing; text that is not a number counts as missing), categories as text."""
    if entry["kind"] == NUMERIC:
        numbers: np.ndarray = pd.to_numeric(column, errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        return numbers
    return [category_text(None if _is_missing(v) else v) for v in column.tolist()]


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA


def drift_reference(inputs: list[dict[str, Any]], train_frame: pd.DataFrame) -> dict[str, Any]:
    """The manifest's `drift` section: per input column present in the training rows."""
    columns = {}
    for entry in inputs:
        if entry["name"] in train_frame.columns:
            reference = reference_column(entry, raw_values(entry, train_frame[entry["name"]]))
            columns[entry["name"]] = reference.as_manifest()
    return {
        "method": "psi",
        "quantiles": list(QUANTILES),
        "rows": len(train_frame),
        "columns": columns,
    }


def mark_sensitive(inputs: list[dict[str, Any]], declaration: Declaration) -> None:
    """`sensitive: true` on the inputs the declaration marks so (absent otherwise)."""
    sensitive = {c.name for c in declaration.columns if c.sensitive}
    for entry in inputs:
        if entry["name"] in sensitive:
            entry["sensitive"] = True
