"""Scalers, in scikit-learn's own operations and order (float64, no reciprocal)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

from tabship.export.standard.graph import Col, Graph


def _row(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(1, -1)


def convert_scaler(g: Graph, step: Any, cols: list[Col]) -> list[Col]:
    x = g.matrix(cols)
    if isinstance(step, StandardScaler):
        if step.with_mean:  # X -= mean_; X /= scale_
            x = g.op("Sub", [x, g.const(_row(step.mean_), hint="mean")])
        if step.with_std:
            x = g.op("Div", [x, g.const(_row(step.scale_), hint="scale")])
    elif isinstance(step, RobustScaler):
        if step.with_centering:
            x = g.op("Sub", [x, g.const(_row(step.center_), hint="center")])
        if step.with_scaling:
            x = g.op("Div", [x, g.const(_row(step.scale_), hint="scale")])
    elif isinstance(step, MaxAbsScaler):
        x = g.op("Div", [x, g.const(_row(step.scale_), hint="scale")])
    elif isinstance(step, MinMaxScaler):  # X *= scale_; X += min_; clip
        x = g.op("Mul", [x, g.const(_row(step.scale_), hint="scale")])
        x = g.op("Add", [x, g.const(_row(step.min_), hint="min")])
        if step.clip:
            low, high = (float(v) for v in step.feature_range)
            # np.clip keeps NaN: comparisons with NaN are false, so Where leaves it too
            x = g.op("Where", [g.op("Less", [x, g.const(low)]), g.const(low), x])
            x = g.op("Where", [g.op("Greater", [x, g.const(high)]), g.const(high), x])
    else:  # pragma: no cover - the walk dispatches only the four
        raise TypeError(type(step).__name__)
    return g.split(x, len(cols))
