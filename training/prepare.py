"""Row-level preparation that happens once, before the pipeline: it cannot exist at serving time
(a served row has no target and no siblings to be a duplicate of)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from contract import spelling
from contract.values import category_text, number_value
from training.declaration import Declaration


class PreparationError(ValueError):
    """The table cannot be trained on; the message names the source and the problem."""


@dataclass(frozen=True)
class PreparedData:
    features: pd.DataFrame
    target: np.ndarray
    raw_rows: int
    dropped_missing_target: int
    dropped_duplicates: int


def parse_target(values: pd.Series, declaration: Declaration, source: str) -> pd.Series:
    """1.0 / 0.0 / NaN (missing). Unrecognised values are an error, never a guess."""
    positive, negative = set(declaration.positive_values), set(declaration.negative_values)

    def one(value: object) -> float:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return np.nan
        text = str(value).strip().lower()
        if isinstance(value, int | float) and not isinstance(value, bool):
            text = str(int(value)) if float(value).is_integer() else text
        if text == "":
            return np.nan
        if text in positive:
            return 1.0
        if text in negative:
            return 0.0
        raise PreparationError(
            f"{source}: target column {declaration.target!r} has the value {value!r}, which is "
            f"neither positive {sorted(positive)} nor negative {sorted(negative)}"
        )

    return values.map(one)


def prepare(frame: pd.DataFrame, declaration: Declaration, source: str) -> PreparedData:
    wanted = [*declaration.raw_columns, declaration.target]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise PreparationError(
            f"{source}: missing declared column(s) {missing} (declaration {declaration.path.name})"
        )
    if frame.empty:
        raise PreparationError(f"{source}: the table has no rows")
    table = frame[wanted]
    target = parse_target(table[declaration.target], declaration, source)
    has_target = target.notna()
    table, target = table[has_target], target[has_target]
    duplicated = table.astype(str).duplicated(keep="first")
    table, target = table[~duplicated], target[~duplicated]
    if table.empty:
        raise PreparationError(f"{source}: no rows left after dropping rows without a target")
    classes = set(target.astype(int))
    if len(classes) < 2:
        raise PreparationError(
            f"{source}: target column {declaration.target!r} has only one class "
            f"({classes.pop()}); a binary classifier needs both"
        )
    return PreparedData(
        features=table[declaration.raw_columns].reset_index(drop=True),
        target=target.to_numpy(dtype=np.int64),
        raw_rows=len(frame),
        dropped_missing_target=int((~has_target).sum()),
        dropped_duplicates=int(duplicated.sum()),
    )


def empty_columns(features: pd.DataFrame, declaration: Declaration) -> list[str]:
    """Declared columns with no usable value in any row (numeric: no finite number; categorical:
    only blanks), judged by the same value rules the pipeline applies."""
    empty = []
    for column in declaration.columns:
        cells = features[column.name].tolist()
        if column.kind == "numeric":
            usable = any(np.isfinite(number_value(v)) for v in cells)
        else:
            usable = any(category_text(v).strip(spelling.WHITESPACE) for v in cells)
        if not usable:
            empty.append(column.name)
    return empty
