"""The built-in default data set: deterministic, shaped like the public table, learnable, dirty."""

from __future__ import annotations

import math
import os
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from tabship.contract.values import number_value
from tabship.training.default_data import (
    COLUMNS,
    DEFAULT_TABLE,
    NUMERIC_COLUMNS,
    ensure_default_database,
    generate_sessions,
)

TEN_MONTHS = {"feb", "mar", "may", "june", "jul", "aug", "sep", "oct", "nov", "dec"}
MONTH_ALIASES = {"sept": "sep", "jun": "june"}
DURATIONS = ["Administrative_Duration", "Informational_Duration", "ProductRelated_Duration"]


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def target(value: Any) -> float:
    if is_missing(value):
        return math.nan
    text = str(value).strip().lower()
    assert text in {"true", "1", "false", "0"}, f"unexpected target spelling {value!r}"
    return 1.0 if text in {"true", "1"} else 0.0


def normalised(values: pd.Series, aliases: dict[str, str] | None = None) -> pd.Series:
    aliases = aliases or {}
    kept = values[~values.map(is_missing)].map(lambda v: str(v).strip().lower())
    return kept.map(lambda v: aliases.get(v, v))


@pytest.fixture(scope="module")
def sessions() -> pd.DataFrame:
    return generate_sessions()


@pytest.fixture(scope="module")
def numbers(sessions: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({c: sessions[c].map(number_value).astype(float) for c in NUMERIC_COLUMNS})


@pytest.fixture(scope="module")
def labels(sessions: pd.DataFrame) -> pd.Series:
    return sessions["Revenue"].map(target).astype(float)


# --- shape and determinism ---------------------------------------------------------------------


def test_columns_and_row_count(sessions: pd.DataFrame) -> None:
    assert list(sessions.columns) == COLUMNS
    assert COLUMNS[:10] == NUMERIC_COLUMNS
    assert COLUMNS[-1] == "Revenue"
    assert len(sessions) == 12330
    assert len(generate_sessions(n_rows=500)) == 500
    # An extract's mixed cells: object columns, not inferred numeric/string dtypes.
    assert set(sessions.dtypes) == {np.dtype(object)}


def test_same_seed_same_frame_other_seed_other_frame(sessions: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(generate_sessions(), sessions)
    small = generate_sessions(seed=7, n_rows=800)
    pd.testing.assert_frame_equal(generate_sessions(seed=7, n_rows=800), small)
    assert not generate_sessions(seed=8, n_rows=800).equals(small)


# --- target and signal -------------------------------------------------------------------------


def test_positive_share(labels: pd.Series) -> None:
    assert 0.145 <= labels.mean() <= 0.165  # NaN (missing target) skipped by mean()


def test_page_values_carry_the_signal(numbers: pd.DataFrame, labels: pd.Series) -> None:
    known = labels.notna() & numbers["PageValues"].notna()
    page_values, y = numbers.loc[known, "PageValues"], labels[known]
    with_value, without = y[page_values > 0].mean(), y[page_values == 0].mean()
    assert with_value > 0.4
    assert without < 0.1
    assert with_value > 5 * without
    assert roc_auc_score(y, page_values) > 0.8
    # The weaker drivers point the documented way.
    exit_rates = numbers.loc[known, "ExitRates"].where(lambda s: s.between(0, 0.2))
    assert y[exit_rates > 0.1].mean() < y[exit_rates < 0.02].mean()


def test_november_and_new_visitors_buy_more(sessions: pd.DataFrame, labels: pd.Series) -> None:
    month = sessions["Month"].map(lambda v: None if is_missing(v) else str(v).strip().lower())
    visitor = sessions["VisitorType"].map(lambda v: "" if is_missing(v) else str(v).lower())
    assert labels[month == "nov"].mean() > labels[month != "nov"].mean()
    assert labels[visitor.str.contains("new")].mean() > labels[~visitor.str.contains("new")].mean()


# --- marginals ---------------------------------------------------------------------------------


def test_numeric_marginals(numbers: pd.DataFrame) -> None:
    clean = numbers.dropna()
    assert 0.74 <= (clean["PageValues"] == 0).mean() <= 0.82
    assert (clean["Informational"] == 0).mean() > 0.7
    assert 10 <= clean["ProductRelated"].median() <= 25
    assert clean["ProductRelated"].max() > 300
    assert clean["Administrative"].max() <= 27
    assert set(clean["SpecialDay"].unique()) <= {0.0, 0.2, 0.4, 0.6, 0.8, 1.0}
    assert (clean["SpecialDay"] == 0).mean() > 0.85
    for count, duration in zip(
        ["Administrative", "Informational", "ProductRelated"], DURATIONS, strict=True
    ):
        no_pages = clean[(clean[count] == 0) & (clean[duration] >= 0)]
        assert (no_pages[duration] == 0).all(), duration
    rates = clean[clean["ExitRates"].between(0, 0.2) & clean["BounceRates"].between(0, 0.2)]
    assert (rates["ExitRates"] >= rates["BounceRates"]).mean() > 0.9


def test_categorical_marginals(sessions: pd.DataFrame) -> None:
    months = normalised(sessions["Month"], MONTH_ALIASES)
    assert set(months) == TEN_MONTHS  # Jan and Apr absent, June spelled out
    assert set(months.value_counts().index[:4]) == {"may", "nov", "mar", "dec"}
    visitors = normalised(sessions["VisitorType"]).str.replace(r"[ -]", "_", regex=True)
    shares = visitors.value_counts(normalize=True)
    assert 0.8 <= shares["returning_visitor"] <= 0.9
    assert 0.1 <= shares["new_visitor"] <= 0.18
    assert shares["other"] < 0.03
    weekend = normalised(sessions["Weekend"])
    assert set(weekend) == {"true", "false"}  # only spellings of true/false
    assert 0.2 <= (weekend == "true").mean() <= 0.26
    for column, top, high in [
        ("OperatingSystems", 2, 8),
        ("Browser", 2, 13),
        ("Region", 1, 9),
        ("TrafficType", 2, 20),
    ]:
        codes = sessions[column][~sessions[column].map(is_missing)].map(lambda v: int(float(v)))
        assert codes.value_counts().index[0] == top, column
        assert codes.min() == 1, column
        assert codes.max() == high, column


# --- dirt --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "column",
    [
        "Administrative_Duration",
        "ProductRelated_Duration",
        "ExitRates",
        "Month",
        "VisitorType",
        "Browser",
    ],
)
def test_missing_values(sessions: pd.DataFrame, column: str) -> None:
    missing = sessions[column].map(is_missing)
    assert 0.003 * len(sessions) <= missing.sum() <= 0.05 * len(sessions)


def test_missing_targets_are_a_handful(labels: pd.Series) -> None:
    assert 5 <= labels.isna().sum() <= 40


def test_negative_durations(numbers: pd.DataFrame) -> None:
    for column in DURATIONS:
        assert (numbers[column] < 0).sum() >= 0.005 * len(numbers), column


def test_rates_out_of_range(numbers: pd.DataFrame) -> None:
    for column in ["BounceRates", "ExitRates"]:
        assert (numbers[column] > 1).sum() >= 10, column
        assert (numbers[column] < 0).sum() >= 1, column
        assert (numbers[column] >= 50).sum() >= 1, column  # written as a percentage


def test_exact_duplicates(sessions: pd.DataFrame) -> None:
    duplicates = sessions.duplicated().sum()
    assert 0.01 * len(sessions) <= duplicates <= 0.02 * len(sessions)


def test_numbers_stored_as_text(sessions: pd.DataFrame) -> None:
    for column in NUMERIC_COLUMNS:
        kinds = set(sessions[column].map(type))
        assert str in kinds, column
        assert kinds & {int, float}, column
        text = sessions[column][sessions[column].map(lambda v: isinstance(v, str))]
        parsed = text.map(number_value)
        assert parsed.notna().mean() > 0.8, column  # mostly real numbers, as text
    text = pd.concat([sessions[c] for c in NUMERIC_COLUMNS])
    text = set(text[text.map(lambda v: isinstance(v, str))])
    assert any(v != v.strip() for v in text)  # " 3.5 "
    assert any("e" in v and math.isfinite(number_value(v)) for v in text)  # "1e2"
    assert {"n/a", "?", "none"} <= text  # unparsable


def test_category_spellings(sessions: pd.DataFrame) -> None:
    month = set(sessions["Month"].dropna())
    assert {"Sept", "Jun", "June", "Nov"} <= month
    assert month & {"nov", "NOV"}
    assert any(v != v.strip() for v in month)
    visitor = set(sessions["VisitorType"].dropna())
    assert {"returning visitor", "Returning-Visitor", "new visitor"} <= visitor
    codes = pd.concat([sessions[c] for c in ["OperatingSystems", "Browser", "Region"]])
    codes = set(codes.dropna().map(repr))
    assert {"'2.0'", "'02'", "2.0", "'2'", "2"} <= codes
    weekend = set(sessions["Weekend"].dropna())
    assert {"TRUE", "FALSE"} < weekend
    revenue = set(sessions["Revenue"].dropna().map(repr))
    assert {"'TRUE'", "'FALSE'", "'True'", "'false'", "1", "0"} <= revenue


# --- the default database ----------------------------------------------------------------------


def test_ensure_default_database_creates_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TABSHIP_DATA_DIR", raising=False)
    path = ensure_default_database()
    assert path == Path("data") / "online_shoppers.sqlite"
    assert path.is_file()
    assert os.listdir(path.parent) == [path.name]  # no temporary file left behind
    content = path.read_bytes()
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    assert ensure_default_database() == path
    assert path.stat().st_mtime_ns == 1_000_000_000  # untouched, not regenerated
    assert path.read_bytes() == content


def test_default_database_location_follows_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TABSHIP_DATA_DIR", str(tmp_path / "elsewhere"))
    existing = tmp_path / "elsewhere" / "online_shoppers.sqlite"
    existing.parent.mkdir()
    existing.write_bytes(b"placeholder")  # an existing file is never inspected or replaced
    assert ensure_default_database() == existing
    assert existing.read_bytes() == b"placeholder"


def test_database_round_trip_keeps_the_dirt(tmp_path: Path, sessions: pd.DataFrame) -> None:
    path = ensure_default_database(tmp_path / "nested" / "shoppers.sqlite")
    with sqlite3.connect(path) as connection:
        back = pd.read_sql_query(f'SELECT * FROM "{DEFAULT_TABLE}"', connection)
        stored = dict(
            connection.execute(
                "SELECT typeof(ProductRelated), count(*) FROM sessions GROUP BY 1"
            ).fetchall()
        )
    connection.close()
    assert list(back.columns) == COLUMNS
    assert len(back) == len(sessions)
    assert {"integer", "text"} <= set(stored)  # dynamic typing: numbers and text side by side
    for column in NUMERIC_COLUMNS:
        original = sessions[column].map(lambda v: None if is_missing(v) else v)
        assert back[column].map(lambda v: None if is_missing(v) else v).tolist() == (
            original.tolist()
        ), column
    assert back["Revenue"].isna().sum() == sessions["Revenue"].map(is_missing).sum()
