"""The engine's masking mode (mask_rows / mask_columns) is the raising mode's pass kept: the
same problems, and feeds equal to validating the good rows alone."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tabship.runtime.dataplane.errors import InvalidRows
from tabship.runtime.model.schema import InputSchema

INPUTS = [
    {"name": "age", "kind": "numeric", "nullable": False},
    {"name": "income", "kind": "numeric", "nullable": True},
    {"name": "plan", "kind": "categorical", "nullable": False, "categories": ["basic", "pro"]},
]
ROWS: list[Any] = [
    {"age": 30, "income": "1200.5", "plan": "pro"},
    {"age": "old", "income": None, "plan": "basic"},  # bad age
    ["not", "an", "object"],
    {"age": 41, "income": 10, "plan": "x" * 300},  # too long
    {"age": 52, "income": "", "plan": "gold"},  # unseen category: good
    {"age": None, "income": True, "plan": None},  # three problems
]
GOOD = [True, False, False, False, True, False]


def _problems(error: InvalidRows) -> list[tuple[int | None, str | None, str]]:
    return [(p.row, p.column, p.reason) for p in error.problems]


def test_mask_rows_keeps_what_validate_rows_refuses() -> None:
    schema = InputSchema(INPUTS)
    masked = schema.mask_rows(ROWS)
    with pytest.raises(InvalidRows) as raised:
        schema.validate_rows(ROWS)
    assert masked.good.tolist() == GOOD
    assert [(p.row, p.column, p.reason) for p in masked.problems] == _problems(raised.value)
    alone = schema.feeds(schema.validate_rows([r for r, g in zip(ROWS, GOOD, strict=True) if g]))
    for name, feed in alone.items():
        assert masked.feeds[name].dtype == feed.dtype
        np.testing.assert_array_equal(masked.feeds[name], feed)  # NaN == NaN here
    assert masked.validated.unseen == {"plan": 1}


def test_mask_columns_keeps_what_validate_columns_refuses() -> None:
    schema = InputSchema(INPUTS)
    data = {
        "age": np.array([30.0, np.nan, 41.0, np.inf]),
        "income": ["1", "two", None, "4"],
        "plan": ["pro", "basic", "", "pro"],
    }
    masked = schema.mask_columns(data, 4)
    with pytest.raises(InvalidRows) as raised:
        schema.validate_columns(data, 4)
    assert masked.good.tolist() == [True, False, False, False]
    assert [(p.row, p.column, p.reason) for p in masked.problems] == _problems(raised.value)
    assert masked.feeds["age"].tolist() == [[30.0]]
    assert masked.feeds["plan"].tolist() == [["pro"]]
    # every row kept in `validated`, a placeholder where refused
    assert np.isnan(masked.validated.columns[0][3])
    assert masked.validated.columns[2].tolist() == ["pro", "", "", ""]


def test_a_whole_column_problem_still_raises_in_masking_mode() -> None:
    schema = InputSchema(INPUTS)
    with pytest.raises(InvalidRows, match="problem"):
        schema.mask_columns({"age": [1, 2], "income": [1], "plan": ["a", "b"]}, 2)
    with pytest.raises(InvalidRows):
        schema.mask_columns({"income": [1.0], "plan": ["pro"]}, 1)  # age is required
