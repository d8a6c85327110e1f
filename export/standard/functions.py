"""FunctionTransformer with a numpy ufunc, and KBinsDiscretizer."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tabship.export.standard.graph import Col, Graph


def _log1p(g: Graph, x: str) -> str:
    return g.op("Log", [g.op("Add", [x, g.const(1.0)])])


# np.square is x*x, correctly rounded like Mul; sqrt and abs are exact everywhere; log, exp
# and log1p are not correctly rounded (the gate and the tree-input check decide).
UFUNCS: dict[Any, Callable[[Graph, str], str]] = {
    np.log1p: _log1p,
    np.log: lambda g, x: g.op("Log", [x]),
    np.sqrt: lambda g, x: g.op("Sqrt", [x]),
    np.exp: lambda g, x: g.op("Exp", [x]),
    np.abs: lambda g, x: g.op("Abs", [x]),
    np.square: lambda g, x: g.op("Mul", [x, x]),
}


def function_problem(step: Any) -> str | None:
    if step.func is not None and step.func not in UFUNCS:
        name = getattr(step.func, "__name__", repr(step.func))
        return (
            f"func={name} has no exact converter (numpy ufuncs: log1p, log, sqrt, exp, abs, square)"
        )
    if step.kw_args:
        return "kw_args are not supported"
    return None


def convert_function(g: Graph, step: Any, cols: list[Col]) -> list[Col]:
    if step.func is None:
        return cols
    return g.split(UFUNCS[step.func](g, g.matrix(cols)), len(cols))


# Increasing functions: f(x) >= edge <=> x >= the smallest double whose f reaches the edge.
MONOTONE = (np.log1p, np.log, np.sqrt, np.exp)
_SIGN = np.int64(0x7FFFFFFFFFFFFFFF)


def _ordered(x: float) -> int:
    bits = int(np.float64(x).view(np.int64))
    return bits if bits >= 0 else -(bits & int(_SIGN))


def _double(k: int) -> float:
    bits = k if k >= 0 else (-k) | (1 << 63)
    return float(np.array([bits], dtype=np.uint64).view(np.float64)[0])


def first_reaching(func: Any, edge: float) -> float:
    """The smallest finite double x with func(x) >= edge, by numpy's own func (bisection over
    the doubles in order): comparing the raw x with it bins exactly as func then the edge."""
    low, high = _ordered(-np.finfo(np.float64).max), _ordered(np.finfo(np.float64).max)
    with np.errstate(all="ignore"):
        if not func(np.float64(_double(high))) >= edge:
            return math.inf
        while low < high:
            middle = (low + high) // 2
            if func(np.float64(_double(middle))) >= edge:
                high = middle
            else:
                low = middle + 1
    return _double(low)


def convert_kbins(g: Graph, step: Any, cols: list[Col], before: Any = None) -> list[Col]:
    """Bin = the number of interior edges <= x (searchsorted side="right"), compared in
    float64; onehot-dense spreads the bin over n_bins_ columns. `before`: an increasing
    ufunc applied just before, folded into the edges (log1p is not correctly rounded: its
    ONNX form can differ by an ulp exactly where quantile edges sit, on training values)."""
    out: list[Col] = []
    for col, edges, bins in zip(cols, step.bin_edges_, step.n_bins_, strict=True):
        interior = np.asarray(edges[1:-1], dtype=np.float64).reshape(1, -1)
        if before is not None:
            interior = np.asarray([[first_reaching(before, e) for e in interior[0]]])
        if interior.size == 0:
            index = g.op("Mul", [col.name, g.const(0.0)])
        else:
            above = g.to_double(g.op("GreaterOrEqual", [col.name, g.const(interior, hint="edges")]))
            index = g.op("ReduceSum", [above, g.const([1], np.int64, "axis")], keepdims=1)
        if step.encode == "ordinal":
            out.append(Col(index))
            continue
        slots = g.const(np.arange(int(bins), dtype=np.float64).reshape(1, -1), hint="bins")
        block = g.to_double(g.op("Equal", [index, slots]))
        out += g.split(block, int(bins))
    return out


def kbins_problem(step: Any) -> str | None:
    if step.encode not in ("ordinal", "onehot-dense"):
        return f"encode={step.encode!r} (sparse) is not supported: use 'onehot-dense' or 'ordinal'"
    return None


__all__ = ["convert_function", "convert_kbins", "function_problem", "kbins_problem"]
