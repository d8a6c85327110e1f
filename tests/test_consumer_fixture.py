"""The consumer fixture holds exactly the rows the server accepts: the gate asks the same
validation engine (runtime.schema, masking mode) instead of restating its rules."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tabship.contract.target import target_of
from tabship.parity_tests.gate import GateRun, consumer_fixture
from tabship.runtime.dataplane.errors import InvalidRows
from tabship.runtime.model.schema import InputSchema

MANIFEST = {
    "name": "fixture-test",
    "version": "1",
    "onnx": {"sha256": "0" * 64},
    "threshold": {"value": 0.5},
    "inputs": [
        {"name": "age", "kind": "numeric", "nullable": False},
        {"name": "income", "kind": "numeric", "nullable": True},
        {"name": "plan", "kind": "categorical", "nullable": False, "categories": ["a", "b"]},
    ],
}
# (age, income, plan, accepted by the server?)
ROWS = [
    (30, 1.5, "a", True),
    (None, 2.0, "a", False),  # age is not nullable (the old hand rules let this through)
    (31, "1_000", "b", False),  # Python's float() reads it; the server's numeric text does not
    (32, " 12 ", "zz", True),  # an unseen category and padded numeric text: accepted
    (33, math.inf, "a", False),  # JSON cannot carry it
    (34, None, "x" * 300, False),  # too long
    (35, "", "b\x00", False),  # NUL
    (36, math.nan, "b", True),  # NaN is null: income is nullable
    (37, True, "a", False),  # a boolean is not a number
]


def _gate() -> GateRun:
    frame = pd.DataFrame([row[:3] for row in ROWS], columns=["age", "income", "plan"], dtype=object)
    reference = np.linspace(0.1, 0.9, len(ROWS))
    sets = ("test", "boundary", "hostile")
    return GateRun(
        results=[],
        rows={name: frame for name in sets},
        references={name: reference for name in sets},
        details={},
        target=target_of(MANIFEST),
    )


def test_the_fixture_keeps_exactly_the_rows_the_server_accepts() -> None:
    fixture = consumer_fixture(_gate(), MANIFEST)
    schema = InputSchema(MANIFEST["inputs"])
    expected = [i for i, row in enumerate(ROWS) if row[3]]
    reference = np.linspace(0.1, 0.9, len(ROWS))
    for fixture_set in fixture["sets"]:
        kept = fixture_set["rows"]
        assert [row["age"] for row in kept] == [ROWS[i][0] for i in expected]
        assert fixture_set["expected"]["probability"] == [float(reference[i]) for i in expected]
        schema.validate_rows(kept)  # the server would answer every one of them
    for i, row in enumerate(ROWS):
        if not row[3] and not (isinstance(row[1], float) and math.isinf(row[1])):
            with pytest.raises(InvalidRows):
                schema.validate_rows([dict(zip(("age", "income", "plan"), row[:3], strict=True))])
            assert i not in expected
