"""The input contract of a user's fitted pipeline: one input per raw column the pipeline was
fitted on (`feature_names_in_`, names kept as written), numeric or categorical by the data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from tabship.contract.manifest import CATEGORICAL, NUMERIC, OUTPUT_NAMES
from tabship.contract.values import category_text

# Texts that a missing value turns into somewhere on the way (str(None), str(nan)): as real
# categories they would be indistinguishable from a null.
RESERVED_CATEGORIES = ("nan", "None", "NaN", "<NA>")


class ContractError(ValueError):
    """The pipeline or the data cannot give an input contract; the message says why."""


@dataclass(frozen=True)
class OwnColumn:
    name: str
    kind: str  # NUMERIC | CATEGORICAL


def _kind(name: str, series: pd.Series) -> str:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raise ContractError(
            f"column {name!r} is boolean: give it as 0/1 numbers or as text ('true'/'false') "
            "when fitting, so the served value has one meaning"
        )
    if pd.api.types.is_numeric_dtype(dtype):
        return NUMERIC
    if isinstance(dtype, pd.CategoricalDtype) and pd.api.types.is_numeric_dtype(
        dtype.categories.dtype
    ):
        return NUMERIC
    return CATEGORICAL


def _reader_kind(step: Any) -> str | None:
    """The kind of column a fitted step reads, when the step says (None: it does not)."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    from tabship.training.contract import CategoryEncoder, CategoryNumber

    if isinstance(step, CategoryEncoder | CategoryNumber):
        return CATEGORICAL
    if isinstance(step, OneHotEncoder | OrdinalEncoder):
        kinds = {np.asarray(c).dtype.kind for c in step.categories_}
        return CATEGORICAL if kinds & {"O", "U", "S", "T"} else NUMERIC
    if isinstance(step, SimpleImputer):
        stats = np.asarray(step.statistics_, dtype=object)
        return CATEGORICAL if any(isinstance(v, str) for v in stats) else NUMERIC
    if hasattr(step, "transform") or hasattr(step, "predict_proba"):
        return NUMERIC  # scalers, functions, bins, tabship's numeric steps, the model
    return None


def step_kinds(step: Any, names: list[str]) -> dict[str, str]:
    """Raw column -> the kind its first reading step takes (CSV text stays undecided by
    the data: a scaler reads numbers, an encoder fitted on text reads text)."""
    from sklearn.compose import ColumnTransformer

    if step is None or isinstance(step, str):
        return {}
    if isinstance(step, Pipeline):
        steps = [s for _, s in step.steps if s is not None and not isinstance(s, str)]
        return step_kinds(steps[0], names) if steps else {}
    if isinstance(step, ColumnTransformer):
        found: dict[str, str] = {}
        for name, transformer, _ in step.transformers_:
            where = step._transformer_to_input_indices.get(name, [])
            found.update(step_kinds(transformer, [names[int(i)] for i in where]))
        return found
    kind = _reader_kind(step)
    return dict.fromkeys(names, kind) if kind else {}


def read_columns(pipeline: Any, frame: pd.DataFrame) -> list[OwnColumn]:
    """The raw columns, in the order the pipeline was fitted on, with their kinds."""
    if not isinstance(pipeline, Pipeline):
        raise ContractError(
            f"expected a fitted scikit-learn Pipeline ending in an XGBClassifier, got "
            f"{type(pipeline).__name__}"
        )
    names = getattr(pipeline, "feature_names_in_", None)
    if names is None:
        raise ContractError(
            "the pipeline has no feature_names_in_: fit it on a pandas DataFrame so each "
            "input has its column's name"
        )
    columns = [str(n) for n in names]
    reserved = sorted(set(columns) & set(OUTPUT_NAMES))
    if reserved:
        raise ContractError(f"column name(s) {reserved} are the graph's output names")
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise ContractError(f"the data has no column(s) {absent} (the pipeline reads them)")
    decided = step_kinds(pipeline, columns)
    out = [OwnColumn(c, decided.get(c) or _kind(c, frame[c])) for c in columns]
    for column in out:
        if column.kind != CATEGORICAL:
            continue
        texts = {category_text(v) for v in frame[column.name].dropna().tolist()}
        bad = sorted(texts & set(RESERVED_CATEGORIES))
        if bad:
            raise ContractError(
                f"column {column.name!r} has the category text {bad[0]!r}, which is how a "
                "missing value is spelled once turned into text: use a real null instead"
            )
    return out


def categories_seen(frame: pd.DataFrame, column: str) -> list[str]:
    """The column's distinct texts in the data (canonical form, missing left out), sorted."""
    texts = {category_text(v) for v in frame[column].tolist()}
    texts.discard("")
    return sorted(texts)


def numeric_range(frame: pd.DataFrame, column: str) -> dict[str, float] | None:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    finite = values[np.isfinite(values)]
    return {"min": float(finite.min()), "max": float(finite.max())} if finite.size else None
