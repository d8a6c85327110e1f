"""SimpleImputer: a missing cell takes the fitted statistic (IsNaN/Where in float64; text by
equality with "", the served missing value); add_indicator appends 0/1 columns."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tabship.export.standard.graph import Col, Graph


def imputer_problem(step: Any, cols: list[Col]) -> str | None:
    missing = step.missing_values
    if not (isinstance(missing, float) and math.isnan(missing)):
        return (
            f"missing_values={missing!r}: only NaN (the default) is supported; tabship serves "
            "every missing value as one null"
        )
    if len({c.text for c in cols}) > 1:
        return "it reads numbers and text together: impute them in separate branches"
    if (
        cols
        and cols[0].text
        and any(not isinstance(s, str) for s in np.asarray(step.statistics_, dtype=object))
    ):
        return "a text column's fill value must be text"
    return None


def convert_imputer(g: Graph, step: Any, cols: list[Col]) -> list[Col]:
    statistics = np.asarray(step.statistics_, dtype=object)
    out: list[Col] = []
    for col, statistic in zip(cols, statistics, strict=True):
        if col.text:
            fill = g.const([[statistic]], object, "fill")
            out.append(Col(g.op("Where", [g.missing(col), fill, col.name]), text=True))
            continue
        value = float(statistic)
        if math.isnan(value) and not step.keep_empty_features:
            continue  # scikit-learn drops a column that had no value at fit
        fill = g.const([[0.0 if math.isnan(value) else value]], hint="fill")
        out.append(Col(g.op("Where", [g.missing(col), fill, col.name])))
    if step.add_indicator:
        for index in step.indicator_.features_:
            out.append(Col(g.to_double(g.missing(cols[int(index)]))))
    return out
