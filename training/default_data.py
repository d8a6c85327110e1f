"""The built-in default data set: a seeded, synthetic, deliberately dirty extract shaped like the
public UCI "Online Shoppers Purchasing Intention" table.

The clean values follow the public marginals closely enough for the pipeline to face realistic
heavy tails and skewed codes; the label comes from a logistic model in which PageValues dominates.
Then the dirt a real extract carries is applied (missing cells, numbers as text, impossible values,
spelling variants, exact duplicates), so the training pipeline's cleaning is exercised for real.
Nothing here is random at import time: the same seed always gives the same frame.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_SEED = 20261126
DEFAULT_ROWS = 12330
DEFAULT_TABLE = "sessions"
DEFAULT_FILENAME = "online_shoppers.sqlite"

NUMERIC_COLUMNS = [
    "Administrative",
    "Administrative_Duration",
    "Informational",
    "Informational_Duration",
    "ProductRelated",
    "ProductRelated_Duration",
    "BounceRates",
    "ExitRates",
    "PageValues",
    "SpecialDay",
]
CATEGORICAL_COLUMNS = [
    "Month",
    "OperatingSystems",
    "Browser",
    "Region",
    "TrafficType",
    "VisitorType",
    "Weekend",
]
TARGET = "Revenue"
COLUMNS = [*NUMERIC_COLUMNS, *CATEGORICAL_COLUMNS, TARGET]

TARGET_SHARE = 0.155
DUPLICATE_SHARE = 0.015

# Category frequencies of the public table (counts out of 12,330), so the skew is realistic.
_MONTHS = {
    "May": 3364,
    "Nov": 2998,
    "Mar": 1907,
    "Dec": 1727,
    "Oct": 549,
    "Sep": 448,
    "Aug": 433,
    "Jul": 432,
    "June": 288,
    "Feb": 184,
}
_OPERATING_SYSTEMS = {2: 6601, 1: 2585, 3: 2555, 4: 478, 8: 79, 6: 19, 7: 7, 5: 6}
_BROWSERS = {
    2: 7961, 1: 2462, 4: 736, 5: 467, 6: 174, 10: 163, 8: 135,
    3: 105, 13: 61, 7: 49, 12: 10, 11: 6, 9: 1,
}  # fmt: skip
_REGIONS = {1: 4780, 3: 2403, 4: 1182, 2: 1136, 6: 805, 7: 761, 9: 511, 8: 434, 5: 318}
_TRAFFIC_TYPES = {
    2: 3913, 1: 2451, 3: 2052, 4: 1069, 13: 738, 10: 450, 6: 444, 8: 343, 5: 260, 11: 247,
    20: 198, 9: 42, 7: 40, 15: 38, 19: 17, 14: 13, 18: 10, 16: 3, 12: 1, 17: 1,
}  # fmt: skip
_VISITOR_TYPES = {"Returning_Visitor": 0.855, "New_Visitor": 0.138, "Other": 0.007}

# Logistic label model. PageValues is by far the strongest driver; the rest is weaker on purpose
# so a model without PageValues is clearly worse but still useful.
_COEF = {
    "page_values_positive": 1.9,
    "log1p_page_values": 0.55,
    "exit_rates": -30.0,
    "bounce_rates": -10.0,
    "november": 1.0,
    "new_visitor": 0.6,
    "log1p_product_duration": 0.5,
}


def _choice(rng: np.random.Generator, table: dict[Any, float], n: int) -> np.ndarray:
    keys = list(table)
    weights = np.array([table[k] for k in keys], dtype=np.float64)
    return np.array(keys, dtype=object)[rng.choice(len(keys), size=n, p=weights / weights.sum())]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _calibrated_intercept(logit_without_intercept: np.ndarray, share: float) -> float:
    """Bisection on the intercept so the expected positive share is `share` (monotone)."""
    low, high = -20.0, 20.0
    for _ in range(80):
        middle = (low + high) / 2
        if _sigmoid(logit_without_intercept + middle).mean() < share:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _clean_sessions(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Clean values and the label, as numpy arrays (counts int, the rest float / labels)."""
    # One latent engagement score per session ties page counts, durations, rates and
    # PageValues together, as in real sessions (and leaks some PageValues signal elsewhere).
    engagement = rng.normal(size=n)
    visitor = _choice(rng, _VISITOR_TYPES, n)
    month = _choice(rng, _MONTHS, n)

    product = np.exp(np.log(18.0) + 0.75 * engagement + 0.65 * rng.normal(size=n))
    product = np.clip(np.rint(product), 1, 705).astype(np.int64)
    product[rng.random(n) < 0.003] = 0

    def zero_inflated(p_zero: np.ndarray, mean_extra: float, cap: int) -> np.ndarray:
        counts = 1 + rng.negative_binomial(1.3, 1.3 / (1.3 + mean_extra), size=n)
        counts[rng.random(n) < p_zero] = 0
        return np.minimum(counts, cap).astype(np.int64)

    administrative = zero_inflated(_sigmoid(-0.1 - 0.9 * engagement), 3.0, 27)
    informational = zero_inflated(_sigmoid(1.5 - 0.8 * engagement), 0.8, 24)

    def durations(counts: np.ndarray, seconds_per_page: float, sigma: float) -> np.ndarray:
        per_page = np.exp(np.log(seconds_per_page) + sigma * rng.normal(size=n))
        seconds = np.round(counts * per_page, 6)
        # A one-page visit has no measurable duration; a few multi-page ones record none either.
        seconds[(counts == 0) | ((counts == 1) & (rng.random(n) < 0.4))] = 0.0
        seconds[rng.random(n) < 0.03] = 0.0
        return seconds

    administrative_duration = durations(administrative, 25.0, 0.9)
    informational_duration = durations(informational, 45.0, 1.0)
    product_duration = durations(product, 32.0, 0.8)

    # Exit/bounce rates are high for short sessions; a single-page visit is 0.2 / 0.2, as in the
    # public data's cap.
    exit_rates = np.exp(np.log(0.028) - 0.35 * engagement + 0.55 * rng.normal(size=n))
    exit_rates = np.clip(exit_rates, 0.0, 0.2)
    bounce_share = rng.beta(0.7, 2.2, size=n)
    bounce_share[rng.random(n) < 0.42] = 0.0
    bounce_rates = exit_rates * bounce_share
    flipped = rng.random(n) < 0.02  # a few bounce > exit rows, as in the public data
    bounce_rates[flipped] = np.minimum(exit_rates[flipped] * rng.uniform(1.0, 1.5), 0.2)
    single_page = (administrative + informational + product) <= 1
    exit_rates[single_page] = 0.2
    bounce_rates[single_page] = 0.2
    exit_rates, bounce_rates = np.round(exit_rates, 8), np.round(bounce_rates, 8)

    has_page_value = rng.random(n) < _sigmoid(-1.6 + 1.2 * engagement)
    page_values = np.where(has_page_value, np.exp(np.log(17.0) + 1.0 * rng.normal(size=n)), 0.0)
    page_values = np.round(np.clip(page_values, 0.0, 361.0), 6)

    special_day = np.zeros(n)
    special_levels = np.array([0.2, 0.4, 0.6, 0.8, 1.0])
    near_holiday = ((month == "May") & (rng.random(n) < 0.3)) | (
        (month == "Feb") & (rng.random(n) < 0.5)
    )
    special_day[near_holiday] = rng.choice(
        special_levels, size=int(near_holiday.sum()), p=[0.14, 0.19, 0.28, 0.26, 0.13]
    )

    logit = (
        _COEF["page_values_positive"] * (page_values > 0)
        + _COEF["log1p_page_values"] * np.log1p(page_values)
        + _COEF["exit_rates"] * exit_rates
        + _COEF["bounce_rates"] * bounce_rates
        + _COEF["november"] * (month == "Nov")
        + _COEF["new_visitor"] * (visitor == "New_Visitor")
        + _COEF["log1p_product_duration"] * np.log1p(product_duration)
    )
    probability = _sigmoid(logit + _calibrated_intercept(logit, TARGET_SHARE))
    revenue = rng.random(n) < probability

    return {
        "Administrative": administrative,
        "Administrative_Duration": administrative_duration,
        "Informational": informational,
        "Informational_Duration": informational_duration,
        "ProductRelated": product,
        "ProductRelated_Duration": product_duration,
        "BounceRates": bounce_rates,
        "ExitRates": exit_rates,
        "PageValues": page_values,
        "SpecialDay": special_day,
        "Month": month,
        "OperatingSystems": _choice(rng, _OPERATING_SYSTEMS, n),
        "Browser": _choice(rng, _BROWSERS, n),
        "Region": _choice(rng, _REGIONS, n),
        "TrafficType": _choice(rng, _TRAFFIC_TYPES, n),
        "VisitorType": visitor,
        "Weekend": rng.random(n) < 0.233,
        TARGET: revenue,
    }


# --- dirt -------------------------------------------------------------------------------------


def _python(value: Any) -> Any:
    """numpy scalars -> plain Python values, so SQLite stores them with their natural type."""
    return value.item() if isinstance(value, np.generic) else value


def _number_text(value: Any, rng: np.random.Generator) -> str:
    """A number as an extract might store it as text; it parses back to the very same value."""
    style = rng.integers(4)
    if isinstance(value, int):
        scientific = np.format_float_scientific(float(value), unique=True, exp_digits=1)
        return [
            str(value),
            f" {value} ",
            f"{value}.0",
            scientific.replace(".e", "e").replace("+", ""),
        ][style]
    scientific = np.format_float_scientific(value, unique=True)
    return [repr(value), f" {value!r} ", scientific, f"{value!r}  "][style]


def _spell_case(text: str, rng: np.random.Generator) -> str:
    return [text.lower(), text.upper(), f" {text} ", f"{text} "][rng.integers(4)]


def _code_spelling(code: int, rng: np.random.Generator) -> Any:
    return [f"{code}.0", f"0{code}", float(code), str(code), f" {code} "][rng.integers(5)]


def _pick(rng: np.random.Generator, n: int, share: float, where: np.ndarray | None = None) -> Any:
    """Row positions for one kind of dirt: `share` of all rows, drawn among `where`."""
    pool = np.arange(n) if where is None else np.flatnonzero(where)
    size = min(len(pool), round(share * n))
    return rng.choice(pool, size=size, replace=False)


def _apply_dirt(clean: dict[str, np.ndarray], rng: np.random.Generator) -> pd.DataFrame:
    n = len(clean[TARGET])
    cells: dict[str, list[Any]] = {c: [_python(v) for v in clean[c]] for c in COLUMNS}
    # Labels and flags as the public CSV spells them.
    cells["Weekend"] = ["TRUE" if v else "FALSE" for v in clean["Weekend"]]
    cells[TARGET] = ["TRUE" if v else "FALSE" for v in clean[TARGET]]

    def rewrite(column: str, rows: Sequence[int], change: Callable[[Any], Any]) -> None:
        values = cells[column]
        for row in rows:
            values[row] = change(values[row])

    # Numbers stored as text, then a little unparsable text, in every numeric column.
    for column in NUMERIC_COLUMNS:
        rewrite(column, _pick(rng, n, 0.03), lambda v: _number_text(v, rng))
        rewrite(column, _pick(rng, n, 0.002), lambda _: ["n/a", "?", "none", "-"][rng.integers(4)])

    # Impossible values: negative durations, rates outside [0, 1] (some written as percent).
    for column in ["Administrative_Duration", "Informational_Duration", "ProductRelated_Duration"]:
        rewrite(column, _pick(rng, n, 0.01), lambda _: -1.0)
    for column in ["BounceRates", "ExitRates"]:
        positive = np.array([isinstance(v, float) and v > 0.02 for v in cells[column]])
        rewrite(column, _pick(rng, n, 0.006, positive), lambda v: round(v * 100, 6))
        rewrite(column, _pick(rng, n, 0.003), lambda _: [1.7, -0.2, 100.0][rng.integers(3)])

    # Spelling variants of categories.
    month = np.asarray(clean["Month"])
    rewrite("Month", _pick(rng, n, 0.04), lambda v: _spell_case(v, rng))
    rewrite("Month", _pick(rng, n, 0.01, month == "Sep"), lambda _: "Sept")
    rewrite("Month", _pick(rng, n, 0.008, month == "June"), lambda _: "Jun")
    visitor = np.asarray(clean["VisitorType"])
    rewrite("VisitorType", _pick(rng, n, 0.03), lambda v: _spell_case(v, rng))
    rewrite(
        "VisitorType",
        _pick(rng, n, 0.02, visitor == "Returning_Visitor"),
        lambda _: ["returning visitor", "Returning-Visitor"][rng.integers(2)],
    )
    rewrite("VisitorType", _pick(rng, n, 0.005, visitor == "New_Visitor"), lambda _: "new visitor")
    for column in ["OperatingSystems", "Browser", "Region", "TrafficType"]:
        rewrite(column, _pick(rng, n, 0.04), lambda v: _code_spelling(v, rng))
    rewrite("Weekend", _pick(rng, n, 0.04), lambda v: _spell_case(v.capitalize(), rng))
    rewrite(
        TARGET,
        _pick(rng, n, 0.04),
        lambda v: {
            "TRUE": ["True", "true", 1, "1", " TRUE "],
            "FALSE": ["False", "false", 0, "0", " FALSE "],
        }[v][rng.integers(5)],
    )

    # Missing cells last, so they win over other dirt; None and NaN both occur, as in extracts.
    missing_shares = {
        "Administrative_Duration": 0.015,
        "ProductRelated_Duration": 0.015,
        "ExitRates": 0.01,
        "Informational": 0.005,
        "PageValues": 0.005,
        "Month": 0.01,
        "VisitorType": 0.01,
        "Browser": 0.01,
        "Region": 0.005,
        "Weekend": 0.005,
    }
    for column, share in missing_shares.items():
        rewrite(column, _pick(rng, n, share), lambda _: [None, np.nan][rng.integers(2)])
    rewrite(TARGET, _pick(rng, n, 0.0012), lambda _: None)

    return pd.DataFrame({c: pd.Series(cells[c], dtype=object) for c in COLUMNS})


def generate_sessions(seed: int = DEFAULT_SEED, n_rows: int = DEFAULT_ROWS) -> pd.DataFrame:
    """The dirty default table: `n_rows` rows in total, about 1.5 % of them exact duplicates."""
    if n_rows < 2:
        raise ValueError(f"n_rows must be at least 2, got {n_rows}")
    rng = np.random.default_rng(seed)
    n_duplicates = round(DUPLICATE_SHARE * n_rows)
    unique = _apply_dirt(_clean_sessions(rng, n_rows - n_duplicates), rng)
    copies = unique.iloc[rng.choice(len(unique), size=n_duplicates, replace=False)]
    # Duplicates land at random positions, as they would in an extract.
    frame = pd.concat([unique, copies], ignore_index=True)
    frame = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    return frame.astype(object)


# --- the default database ---------------------------------------------------------------------


def default_database_path() -> Path:
    return Path(os.environ.get("TABSHIP_DATA_DIR", "data")) / DEFAULT_FILENAME


def _sqlite_cell(value: Any) -> Any:
    # NaN would be stored as a REAL NaN (read back as NULL anyway); make it an explicit NULL.
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return _python(value)


def _write_sqlite(frame: pd.DataFrame, path: Path, table: str) -> None:
    columns = ", ".join(f'"{c}"' for c in frame.columns)  # no declared type: dynamic typing
    marks = ", ".join("?" for _ in frame.columns)
    rows = [tuple(_sqlite_cell(v) for v in row) for row in frame.itertuples(index=False)]
    with sqlite3.connect(path) as connection:
        connection.execute(f'CREATE TABLE "{table}" ({columns})')
        connection.executemany(f'INSERT INTO "{table}" VALUES ({marks})', rows)
    connection.close()


def ensure_default_database(path: Path | None = None) -> Path:
    """The default SQLite database, generated once; an existing file is returned untouched."""
    path = default_database_path() if path is None else Path(path)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename: a crash or a concurrent run never leaves half a file.
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        Path(temporary).unlink()  # sqlite3 wants to create the file itself
        _write_sqlite(generate_sessions(), Path(temporary), DEFAULT_TABLE)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
