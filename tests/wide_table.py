"""A generated wide table and its declaration: 100 numeric columns of mixed scales (integer
counts, durations, rates, amounts, signed and tiny values) and 50 categorical ones (text labels,
integer codes, one 500-level column), real-looking missing values, a binary target.

Used by the wide-table tests and by bench/bench_gate.py; deterministic for a given seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NUMERIC_SCALES = ("count", "duration", "rate", "amount", "signed", "tiny")


def _numeric(rng: np.random.Generator, scale: str, rows: int) -> np.ndarray:
    if scale == "count":
        return rng.poisson(rng.uniform(0.5, 20), rows).astype(np.float64)
    if scale == "duration":
        return np.round(rng.lognormal(3, 1.5, rows), 3)
    if scale == "rate":
        return np.round(rng.beta(2, 8, rows), 6)
    if scale == "amount":
        return np.round(rng.lognormal(11, 2, rows), 2)
    if scale == "signed":
        return rng.normal(0, 3, rows)
    return rng.normal(0, 1e-6, rows)


def wide_table(
    rows: int = 3000,
    *,
    numeric: int = 100,
    categorical: int = 50,
    many_levels: int = 500,
    seed: int = 7,
) -> tuple[pd.DataFrame, str]:
    """The raw table (text categories, NaN for missing) and its declaration TOML."""
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    lines = ['[dataset]\nname = "wide"\ntarget = "converted"\n']
    score = np.zeros(rows)
    for i in range(numeric):
        scale = NUMERIC_SCALES[i % len(NUMERIC_SCALES)]
        name = f"n{i:03d}_{scale}"
        values = _numeric(rng, scale, rows)
        if i < 12:  # a few informative columns
            standardised = (values - values.mean()) / (values.std() or 1.0)
            score += standardised * rng.choice([-1.0, 1.0]) * 0.4
        values[rng.random(rows) < 0.05] = np.nan
        data[name] = values
        bounds = "\nmin = 0" if scale in ("count", "duration", "amount") else ""
        bounds += "\nmax = 1" if scale == "rate" else ""
        lines.append(f'[[columns]]\nname = "{name}"\nkind = "numeric"{bounds}\n')
    for j in range(categorical):
        name = f"c{j:02d}"
        if j == 0:
            levels = [f"item_{k:03d}" for k in range(many_levels)]
            name += "_many"
        elif j % 3 == 1:
            levels = [str(k) for k in range(1, int(rng.integers(3, 21)))]
            name += "_code"
        else:
            levels = [f"level_{chr(97 + k)}" for k in range(int(rng.integers(2, 9)))]
        picked = rng.integers(0, len(levels), rows)
        if j < 6:
            score += (picked % 3 - 1) * 0.5
        cells = np.array(levels, dtype=object)[picked]
        cells[rng.random(rows) < 0.04] = None
        data[name] = cells
        codes = "\ninteger_codes = true" if name.endswith("_code") else ""
        lines.append(f'[[columns]]\nname = "{name}"\nkind = "categorical"{codes}\n')
    probability = 1 / (1 + np.exp(-(score - 1.0)))
    data["converted"] = np.where(rng.random(rows) < probability, "yes", "no")
    lines[0] = lines[0] + 'positive_values = ["yes"]\nnegative_values = ["no"]\n'
    return pd.DataFrame(data), "\n".join(lines)
