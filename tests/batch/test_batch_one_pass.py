"""Batch validates a chunk with bad rows in ONE pass of the engine (issue 11 item 3): every value
goes through the column reader at most once, however many rows are refused; numeric text the
engine's pattern accepts is parsed by Arrow and never reaches the scalar reader (issue 13)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from tabship.runtime.batch.rejects import ChunkValidator
from tabship.runtime.model import schema

INPUTS = [
    {"name": "amount", "kind": "numeric", "nullable": True},
    {"name": "plan", "kind": "categorical", "nullable": False, "categories": ["a", "b"]},
]


def _counting(monkeypatch: pytest.MonkeyPatch) -> Counter[Any]:
    """Counts the engine's column-reader calls per (column, value): instrumented readers."""
    calls: Counter[Any] = Counter()
    numeric, categorical = schema.Column.numeric, schema.Column.categorical

    def counted_numeric(self: schema.Column, value: Any) -> float:
        calls[self.name, value] += 1
        return numeric(self, value)

    def counted_categorical(self: schema.Column, value: Any) -> tuple[str, bool]:
        calls[self.name, value] += 1
        return categorical(self, value)

    monkeypatch.setattr(schema.Column, "numeric", counted_numeric)
    monkeypatch.setattr(schema.Column, "categorical", counted_categorical)
    return calls


@pytest.mark.parametrize("bad_rows", [0, 1, 3])
def test_a_chunk_with_bad_rows_is_validated_in_one_pass(
    monkeypatch: pytest.MonkeyPatch, bad_rows: int
) -> None:
    n = 50
    amounts = [f"{i}.5" for i in range(n)]
    for r in range(bad_rows):
        amounts[10 * r] = f"oops{r}"
    table = pa.table({"amount": amounts, "plan": ["a", "new"] * (n // 2)})
    calls = _counting(monkeypatch)

    result = ChunkValidator(INPUTS).validate(table)

    # each distinct value read once (and the null slot batch adds to the distinct values);
    # of the numeric text only what the pattern refuses, and the null slot when any is refused
    refused = [text for text in amounts if text.startswith("oops")]
    assert calls == Counter(
        {("amount", text): 1 for text in [*refused, *([None] if refused else [])]}
        | {("plan", text): 1 for text in ["a", "new", None]}
    )
    assert result.unseen == {"plan": n // 2}
    assert result.n_good == n - bad_rows
    assert result.problem_rows.tolist() == [10 * r for r in range(bad_rows)]
    assert result.problem_reasons == [
        schema.reason("not_a_number", shown=repr(f"oops{r}")) for r in range(bad_rows)
    ]
    good = [float(t) for i, t in enumerate(amounts) if i % 10 or i // 10 >= bad_rows]
    assert result.feeds["amount"].reshape(-1).tolist() == good
    assert result.feeds["plan"].shape == (n - bad_rows, 1)


def test_a_numeric_array_with_a_bad_row_keeps_the_callers_array() -> None:
    """The vectorised path puts its placeholder in a copy, never in the chunk's own buffer."""
    values = np.array([1.0, np.inf, 3.0])
    masked = schema.InputSchema(INPUTS[:1]).mask_columns({"amount": values}, 3)
    assert values.tolist() == [1.0, np.inf, 3.0]
    assert masked.good.tolist() == [True, False, True]
    assert masked.feeds["amount"].reshape(-1).tolist() == [1.0, 3.0]
