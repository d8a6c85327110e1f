"""Row-level preparation before the pipeline: errors name the source, drops are counted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabship.training.declaration import Declaration, load_declaration
from tabship.training.prepare import PreparationError, parse_target, prepare

DECLARATION = """
[dataset]
name = "tiny"
target = "y"
positive_values = ["yes", "1"]
negative_values = ["no", "0"]

[[columns]]
name = "a"
kind = "numeric"

[[columns]]
name = "c"
kind = "categorical"
"""
SOURCE = "csv:some/table.csv"


@pytest.fixture
def tiny(tmp_path: Path) -> Declaration:
    path = tmp_path / "tiny.toml"
    path.write_text(DECLARATION)
    return load_declaration(path)


def _frame(**columns: list[object]) -> pd.DataFrame:
    return pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in columns.items()})


def test_missing_column_is_named(tiny: Declaration) -> None:
    with pytest.raises(PreparationError) as caught:
        prepare(_frame(a=[1, 2], y=["yes", "no"]), tiny, SOURCE)
    message = str(caught.value)
    assert message.startswith(SOURCE)
    assert "'c'" in message
    assert "tiny.toml" in message


def test_missing_target_column_is_named(tiny: Declaration) -> None:
    with pytest.raises(PreparationError, match="'y'"):
        prepare(_frame(a=[1, 2], c=["u", "v"]), tiny, SOURCE)


def test_empty_table(tiny: Declaration) -> None:
    with pytest.raises(PreparationError, match="no rows") as caught:
        prepare(_frame(a=[], c=[], y=[]), tiny, SOURCE)
    assert SOURCE in str(caught.value)


def test_one_class_target(tiny: Declaration) -> None:
    with pytest.raises(PreparationError, match="only one class") as caught:
        prepare(_frame(a=[1, 2, 3], c=["u", "v", "w"], y=["yes", " YES", "1"]), tiny, SOURCE)
    assert "'y'" in str(caught.value)
    assert SOURCE in str(caught.value)


def test_only_rows_without_target(tiny: Declaration) -> None:
    with pytest.raises(PreparationError, match="no rows left"):
        prepare(_frame(a=[1, 2], c=["u", "v"], y=[None, ""]), tiny, SOURCE)


@pytest.mark.parametrize("value", ["maybe", "true", 2, 0.5, "y e s"])
def test_unrecognised_target_value(tiny: Declaration, value: object) -> None:
    with pytest.raises(PreparationError, match="neither positive") as caught:
        prepare(_frame(a=[1, 2, 3], c=["u", "v", "w"], y=["yes", "no", value]), tiny, SOURCE)
    assert repr(value) in str(caught.value)
    assert SOURCE in str(caught.value)


def test_target_spellings(tiny: Declaration) -> None:
    values = pd.Series(["yes", " No ", "YES", 1, 0, 1.0, 0.0, None, np.nan, "", "  "], dtype=object)
    parsed = parse_target(values, tiny, SOURCE)
    np.testing.assert_array_equal(parsed, [1, 0, 1, 1, 0, 1, 0, *[np.nan] * 4])


def test_drops_rows_without_target_and_duplicates(tiny: Declaration) -> None:
    frame = _frame(
        a=[1, 1, 2, 3, 4, 4, "4", 5, 6],
        c=["u", "u", "v", "w", "x", "x", "x", None, None],
        y=["yes", "yes", None, "no", "no", "no", "no", "", "yes"],
        extra=list(range(9)),  # undeclared columns are ignored, also for duplicates
    )
    prepared = prepare(frame, tiny, SOURCE)
    assert prepared.raw_rows == 9
    assert prepared.dropped_missing_target == 2
    # exact duplicates of the declared columns + target: rows 1 and 5 ("4" the text differs
    # from 4 the number as raw data, but compares equal as text: dropped too)
    assert prepared.dropped_duplicates == 3
    assert list(prepared.features.columns) == ["a", "c"]
    assert list(prepared.features["a"]) == [1, 3, 4, 6]
    np.testing.assert_array_equal(prepared.target, [1, 0, 0, 1])
    assert prepared.target.dtype == np.int64
    assert list(prepared.features.index) == [0, 1, 2, 3]


def test_same_features_different_target_are_both_kept(tiny: Declaration) -> None:
    prepared = prepare(_frame(a=[1, 1], c=["u", "u"], y=["yes", "no"]), tiny, SOURCE)
    assert prepared.dropped_duplicates == 0
    assert len(prepared.features) == 2


def test_default_data_prepares(declaration: Declaration, sessions: pd.DataFrame) -> None:
    prepared = prepare(sessions, declaration, "generated")
    assert prepared.raw_rows == len(sessions)
    assert prepared.dropped_duplicates > 0  # the generator plants duplicates
    assert len(prepared.features) == (
        prepared.raw_rows - prepared.dropped_duplicates - prepared.dropped_missing_target
    )
    assert list(prepared.features.columns) == declaration.raw_columns
    assert 0.05 < prepared.target.mean() < 0.3
