"""Row-level preparation that happens once, before the pipeline: it cannot exist at serving time
(a served row has no target and no siblings to be a duplicate of)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tabship.contract import spelling
from tabship.contract.values import category_text, number_value
from tabship.training.declaration import Declaration, fold_class


class PreparationError(ValueError):
    """The table cannot be trained on; the message names the source and the problem."""


@dataclass(frozen=True)
class PreparedData:
    features: pd.DataFrame
    target: np.ndarray
    raw_rows: int
    dropped_missing_target: int
    dropped_duplicates: int
    classes: tuple[str, ...] = ()  # multiclass only: class names, target = index into them


# Each class needs rows in the test split and in every training fold.
MIN_ROWS_PER_CLASS = 5


def _target_text(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer():
        return str(int(value))
    return str(value).strip(spelling.WHITESPACE)


def target_classes(values: pd.Series, declaration: Declaration, source: str) -> tuple[str, ...]:
    """The declared classes, or the distinct values sorted by folded spelling (each named by its
    most frequent spelling)."""
    if declaration.classes:
        return declaration.classes
    return tuple(class_counts(values))


def class_counts(values: pd.Series) -> dict[str, int]:
    """Distinct target values (folded like category labels), sorted by folded spelling, each
    named by its most frequent spelling: name -> rows."""
    spellings: dict[str, Counter[str]] = {}
    for text in map(_target_text, values.tolist()):
        if text:
            spellings.setdefault(fold_class(text), Counter())[text] += 1
    return {
        min(counts.items(), key=lambda item: (-item[1], item[0]))[0]: sum(counts.values())
        for _, counts in sorted(spellings.items())
    }


def parse_classes(
    values: pd.Series, classes: tuple[str, ...], declaration: Declaration, source: str
) -> pd.Series:
    """Class index as float / NaN (missing). A value outside the classes is an error naming it."""
    index = {fold_class(name): i for i, name in enumerate(classes)}

    def one(value: object) -> float:
        text = _target_text(value)
        if text == "":
            return np.nan
        found = index.get(fold_class(text))
        if found is None:
            raise PreparationError(
                f"{source}: target column {declaration.target!r} has the value {value!r}, which "
                f"is not one of the declared classes {list(classes)}"
            )
        return float(found)

    return values.map(one)


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
    if declaration.multiclass:
        classes = target_classes(table[declaration.target], declaration, source)
        target = parse_classes(table[declaration.target], classes, declaration, source)
    else:
        classes = ()
        target = parse_target(table[declaration.target], declaration, source)
    has_target = target.notna()
    table, target = table[has_target], target[has_target]
    duplicated = table.astype(str).duplicated(keep="first")
    table, target = table[~duplicated], target[~duplicated]
    if table.empty:
        raise PreparationError(f"{source}: no rows left after dropping rows without a target")
    if declaration.multiclass:
        _check_class_counts(target, classes, declaration, source)
    else:
        present = set(target.astype(int))
        if len(present) < 2:
            raise PreparationError(
                f"{source}: target column {declaration.target!r} has only one class "
                f"({present.pop()}); a binary classifier needs both"
            )
    return PreparedData(
        features=table[declaration.raw_columns].reset_index(drop=True),
        target=target.to_numpy(dtype=np.int64),
        raw_rows=len(frame),
        dropped_missing_target=int((~has_target).sum()),
        dropped_duplicates=int(duplicated.sum()),
        classes=classes,
    )


def _check_class_counts(
    target: pd.Series, classes: tuple[str, ...], declaration: Declaration, source: str
) -> None:
    counts = np.bincount(target.astype(int), minlength=len(classes))
    present = [name for name, count in zip(classes, counts, strict=True) if count]
    if len(present) < 2:
        raise PreparationError(
            f"{source}: target column {declaration.target!r} has {len(present)} class(es) "
            f"{present}; a multiclass target needs at least two"
        )
    few = [f"{n!r} ({c})" for n, c in zip(classes, counts, strict=True) if c < MIN_ROWS_PER_CLASS]
    if few:
        raise PreparationError(
            f"{source}: target column {declaration.target!r}: class(es) {', '.join(few)} have "
            f"fewer than {MIN_ROWS_PER_CLASS} rows (the stratified split and folds need them); "
            "drop them from the classes or from the data"
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
