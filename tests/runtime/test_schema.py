"""Validation and feed building from the manifest's inputs (in-process)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tabship.contract.rules import MISSING_COLUMN, NUMERIC_TEXT
from tabship.contract.values import category_text, number_value
from tabship.runtime.dataplane.errors import InvalidRows
from tabship.runtime.model.schema import InputSchema


@pytest.fixture(scope="module")
def schema(version_a: Path) -> InputSchema:
    return InputSchema(json.loads((version_a / "manifest.json").read_text())["inputs"])


def _row(**values: Any) -> dict[str, Any]:
    """A row with every input column: null unless given (null is how a client sends missing)."""
    return {
        "PageValues": None,
        "ExitRates": None,
        "Administrative": 1,
        "Month": None,
        "VisitorType": "other",
        "OperatingSystems": None,
        **values,
    }


def test_feeds_follow_the_contract(schema: InputSchema) -> None:
    rows = [
        {
            "PageValues": 2,
            "ExitRates": " 0.5 ",
            "Administrative": 1.25,
            "Month": "Nov",
            "VisitorType": True,
            "OperatingSystems": 2.0,
        },
        _row(Administrative="3", VisitorType=7),
    ]
    feeds, validated = schema.rows_to_feeds(rows)
    assert feeds["PageValues"].dtype == np.float64
    assert feeds["PageValues"].shape == (2, 1)
    assert feeds["ExitRates"][0, 0] == 0.5
    assert math.isnan(feeds["ExitRates"][1, 0])
    assert feeds["Month"].tolist() == [["Nov"], [""]]
    assert feeds["VisitorType"].tolist() == [["true"], ["7"]]
    assert feeds["OperatingSystems"].tolist() == [["2"], [""]]
    assert validated.unseen == {"VisitorType": 2}


@pytest.mark.parametrize(
    ("column", "value", "unseen"),
    [
        ("Month", " NOV\t", False),
        ("Month", "November", False),
        ("Month", "SEPT", False),
        ("Month", "janvier", True),
        ("Month", "nov.", True),
        ("OperatingSystems", " 02 ", False),
        ("OperatingSystems", "+2.00", False),
        ("OperatingSystems", 8, False),
        ("OperatingSystems", 2.5, True),
        ("OperatingSystems", "9", True),
        ("VisitorType", "New Visitor", False),
        ("VisitorType", "RETURNING_VISITOR", False),
    ],
)
def test_unseen_categories_normalised_like_the_graph(
    schema: InputSchema, column: str, value: Any, unseen: bool
) -> None:
    row = _row(**{column: value})
    assert schema.validate_rows([row]).unseen == ({column: 1} if unseen else {})


def test_unseen_memo_keeps_the_spelling_rules_verdict_and_stays_bounded(
    schema: InputSchema,
) -> None:
    from tabship.contract.spelling import canonical_label
    from tabship.runtime.model.schema import UNSEEN_MEMO_MAX

    column = next(c for c in schema.columns if c.name == "Month")
    texts = [" NOV\t", "November", "janvier", "nov.", "Nov"] + [f"m{i}" for i in range(3000)]
    for _ in range(2):  # the second pass answers from the memo
        for text in texts:
            expected = canonical_label(text, column.aliases, column.integer_codes)
            assert column.is_unseen(text) == (expected not in column.known)
            assert len(column._unseen_memo) <= UNSEEN_MEMO_MAX


def test_columnar_equals_rows(schema: InputSchema) -> None:
    rows = [
        {
            "PageValues": float(i),
            "ExitRates": None if i % 3 else 0.1,
            "Administrative": i,
            "Month": ["nov", " Dec", None, "x"][i % 4],
            "VisitorType": "other",
            "OperatingSystems": i % 5,
        }
        for i in range(40)
    ]
    columns = {name: [row.get(name) for row in rows] for name in schema.names}
    columns["PageValues"] = np.array(columns["PageValues"])
    columns["Administrative"] = np.arange(40)
    from_rows, v1 = schema.rows_to_feeds(rows)
    from_columns, v2 = schema.columns_to_feeds(columns)
    for name in schema.names:
        np.testing.assert_array_equal(from_rows[name], from_columns[name])
        assert from_rows[name].dtype == from_columns[name].dtype
    assert v1.unseen == v2.unseen


def test_columnar_problems(schema: InputSchema) -> None:
    with pytest.raises(InvalidRows) as caught:
        schema.validate_columns(
            {"Administrative": np.array([1.0, np.inf, np.nan]), "VisitorType": ["a", None, "b"]}
        )
    got = {(p.row, p.column, p.reason) for p in caught.value.problems}
    assert got == {
        (1, "Administrative", "not a finite number"),
        (2, "Administrative", "null, and the column is not nullable"),
        (1, "VisitorType", "null, and the column is not nullable"),
    }
    with pytest.raises(InvalidRows, match="problem"):
        schema.validate_columns({"Administrative": [1], "VisitorType": ["a", "b"]})


def test_problem_list_is_capped_but_counted(version_a: Path) -> None:
    inputs = json.loads((version_a / "manifest.json").read_text())["inputs"]
    capped = InputSchema(inputs, max_problems=5)
    with pytest.raises(InvalidRows) as caught:
        capped.validate_rows([_row(Administrative=None, VisitorType=None)] * 10)
    assert len(caught.value.problems) == 5
    assert caught.value.problem_count == 20  # two non-nullable columns sent as null, ten rows
    assert caught.value.body()["error"]["truncated"] is True
    with pytest.raises(InvalidRows) as caught:
        capped.validate_rows([{}] * 10)
    assert len(caught.value.problems) == 5
    assert caught.value.problem_count == 60  # every column absent, ten rows
    assert {p.reason for p in caught.value.problems} == {MISSING_COLUMN}


@pytest.mark.parametrize(
    "column",
    ["PageValues", "ExitRates", "Administrative", "Month", "VisitorType", "OperatingSystems"],
)
def test_absent_key_is_a_problem_naming_row_and_column(schema: InputSchema, column: str) -> None:
    """Nullable or not: an absent key is never read as missing (a misspelt name would be
    scored silently); null is how a client sends a missing value."""
    absent = _row()
    del absent[column]
    misspelt = dict(absent, **{column.lower(): 3})
    with pytest.raises(InvalidRows) as caught:
        schema.validate_rows([_row(), absent, _row(), misspelt])
    got = [(p.row, p.column, p.reason) for p in caught.value.problems]
    assert got == [(1, column, MISSING_COLUMN), (3, column, MISSING_COLUMN)]
    assert caught.value.problem_count == 2
    assert caught.value.body()["error"]["problems"][0] == {
        "row": 1,
        "column": column,
        "reason": "missing column (send null for a missing value)",
    }
    assert column in schema.row_json_schema()["required"]
    assert not _valid(schema.row_json_schema(), absent)
    # null is accepted exactly where the column is nullable
    nullable = next(c.nullable for c in schema.columns if c.name == column)
    if nullable:
        schema.validate_rows([_row(**{column: None})])
    else:
        with pytest.raises(InvalidRows, match="problem"):
            schema.validate_rows([_row(**{column: None})])


def test_columnar_absent_column_is_still_missing(schema: InputSchema) -> None:
    """The columnar path (batch scoring, behind --allow-absent-columns) is unchanged: an absent
    nullable column is fed as missing, an absent non-nullable one is a problem."""
    validated = schema.validate_columns({"Administrative": [1, 2], "VisitorType": ["a", "b"]})
    feeds = schema.feeds(validated)
    assert np.isnan(feeds["PageValues"]).all()
    assert feeds["Month"].tolist() == [[""], [""]]
    with pytest.raises(InvalidRows) as caught:
        schema.validate_columns({"Administrative": [1, 2]})
    assert [(p.row, p.column) for p in caught.value.problems] == [(None, "VisitorType")]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=80),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


# values a column could hold, so that many generated rows are valid and get fed
PLAUSIBLE = {
    "numeric": st.sampled_from([None, 0, 2, -1.5, 1e300, "3", " .5e-3 ", "", " ", "1_0"]),
    "categorical": st.sampled_from([None, 0, 2, -1.5, True, "3", "", " ", "nov", "Other"]),
}
COLUMNS = {
    "PageValues": "numeric",
    "ExitRates": "numeric",
    "Administrative": "numeric",
    "Month": "categorical",
    "VisitorType": "categorical",
    "OperatingSystems": "categorical",
}


@st.composite
def json_rows(draw: st.DrawFn) -> dict[str, Any]:
    """Every column with any JSON value (null included; mostly plausible ones), sometimes an
    extra key, now and then absent columns (which the JSON Schema and the validator refuse)."""
    row = {
        name: draw(json_values if draw(st.integers(0, 7)) == 0 else PLAUSIBLE[kind])
        for name, kind in COLUMNS.items()
    }
    if draw(st.booleans()):
        row["other"] = draw(json_values)
    if draw(st.integers(0, 9)) == 0:
        for name in draw(st.sets(st.sampled_from(list(COLUMNS)), min_size=1)):
            del row[name]
    return row


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(json_rows(), max_size=4))
def test_any_json_rows_either_feed_by_the_shared_rules_or_list_problems(
    schema: InputSchema, rows: list[dict[str, Any]]
) -> None:
    row_schema = schema.row_json_schema()
    invalid = {r for r, row in enumerate(rows) if not _valid(row_schema, row)}
    if invalid:
        with pytest.raises(InvalidRows) as caught:
            schema.rows_to_feeds(rows)
        # the JSON Schema (/openapi.json) and the validator refuse exactly the same rows
        assert {p.row for p in caught.value.problems} == invalid
        for r in invalid:
            absent = {name for name in COLUMNS if name not in rows[r]}
            reported = {
                p.column for p in caught.value.problems if p.row == r and p.reason == MISSING_COLUMN
            }
            assert reported == absent
        return
    feeds, _ = schema.rows_to_feeds(rows)
    for entry in schema.columns:
        values = [row[entry.name] for row in rows]
        if entry.kind == "numeric":
            expected = np.array([number_value(v) for v in values], dtype=np.float64)
            np.testing.assert_array_equal(feeds[entry.name].reshape(-1), expected)
        else:
            assert feeds[entry.name].reshape(-1).tolist() == [category_text(v) for v in values]


def _valid(row_schema: dict[str, Any], row: Any) -> bool:
    try:
        jsonschema.validate(row, row_schema)
    except jsonschema.ValidationError:
        return False
    return True


@pytest.mark.parametrize("text", ["1", " -2.5e-3 ", ".5", "5.", "+7", "1" * 200])
def test_numeric_text_accepted(text: str) -> None:
    assert re.fullmatch(NUMERIC_TEXT, text)
    assert math.isfinite(float(text))


@pytest.mark.parametrize(
    "text", ["nan", "inf", "1_000", "١٢", "0x10", "1e999", "1" * 201, "1e", "--1", ""]
)
def test_numeric_text_refused(text: str) -> None:
    assert not re.fullmatch(NUMERIC_TEXT, text)


def test_nul_in_category_text_is_refused(schema: InputSchema) -> None:
    # onnxruntime's C API ends strings at NUL: Node/Java/C#/Go would score "Nov", not this.
    with pytest.raises(InvalidRows) as caught:
        schema.validate_rows([_row(Month="Nov\x00zzz")])
    assert [(p.row, p.column, p.reason) for p in caught.value.problems] == [
        (0, "Month", "text contains a NUL character")
    ]
