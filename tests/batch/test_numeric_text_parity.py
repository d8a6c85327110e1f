"""Numeric text read vectorised by batch (Arrow: RE2 match + cast) against the server's engine
(runtime.schema, Python `re` + float()): the same cells accepted, the same float64 bits fed, the
same cells refused with the same reason, from the engine to a scored CSV file."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from conftest import Inputs  # tests/batch/conftest.py
from hypothesis import given, settings
from hypothesis import strategies as st

from tabship.contract.rules import NUMERIC_TEXT
from tabship.runtime.batch.chunks import score_file
from tabship.runtime.batch.rejects import ChunkValidator, numeric_text_cells
from tabship.runtime.dataplane.errors import InvalidRows
from tabship.runtime.model.artifact import load_artifact
from tabship.runtime.model.schema import InputSchema
from tabship.runtime.model.session import Model
from tabship.runtime.settings import Settings

HOSTILE = [
    *["1", "-0", "+7", "1.", ".5", "-.5", "+.5e-3", "5.e+2", "007", "1e5", "1E+05", "1e-99"],
    *[" 1 ", "\t2\n", "\v3\f", "4\r", " -2.5e-3 ", "\r\n6\r\n"],
    *["9" * 200, "9" * 200 + ".9e99", "0." + "0" * 300 + "1", "." + "7" * 400, "1" * 17],
    *["9007199254740993", "0.1", "2.2250738585072011e-308", "1.7976931348623157e+308"],
    *["1e100", "1e999", "1" * 201, "0" * 500 + "1", "inf", "-inf", "Infinity", "nan", "NaN"],
    *["1_000", "0x10", "0b1", "1,5", "1.5.5", "--1", "+-1", "e5", ".", "-", "+", "1e", "1e+"],
    *["١٢", "１", "\u00a01", "1\u2003", "1\u200b", "½", "ⅷ", "𝟏", "1\x00", "\x00", "n/a", "?"],
    *["", " ", "\t\n", "\x1c1", "1\x1f", "💥", "a" * 300, "1 2", "1e 5", "- 1", "1d5", "0x"],
    None,
]
NUMERIC = {"name": "amount", "kind": "numeric", "nullable": True}
STRICT = {"name": "amount", "kind": "numeric", "nullable": False}

# text drawn from what numeric text is made of, plus characters that look like it
numeric_ish = st.text(
    alphabet=st.sampled_from([*"0123456789+-.eE \t\n\r\f\v_x,", "١", "１", "\u00a0", "\x00"]),
    max_size=12,
)


def _server(entry: dict[str, Any], cell: Any) -> tuple[str, Any]:
    schema = InputSchema([entry])
    try:
        feeds, _ = schema.rows_to_feeds([{entry["name"]: cell}])
    except InvalidRows as refused:
        return "refused", [p.reason for p in refused.problems]
    return "fed", feeds[entry["name"]].reshape(-1).view(np.int64).tolist()  # the float64 bits


def _batch(entry: dict[str, Any], cells: list[Any]) -> list[tuple[str, Any]]:
    """Every cell's outcome when the cells are one column of one chunk."""
    result = ChunkValidator([entry]).validate(
        pa.table({entry["name"]: pa.array(cells, pa.string())})
    )
    fed = iter(result.feeds[entry["name"]].reshape(-1).view(np.int64).tolist())
    reasons: dict[int, list[str]] = {}
    for row, reason in zip(result.problem_rows.tolist(), result.problem_reasons, strict=True):
        reasons.setdefault(row, []).append(reason)
    return [
        ("fed", [next(fed)]) if result.good[r] else ("refused", reasons[r])
        for r in range(len(cells))
    ]


@pytest.mark.parametrize("entry", [NUMERIC, STRICT], ids=["nullable", "not-nullable"])
def test_hostile_numeric_text_has_the_servers_outcome(entry: dict[str, Any]) -> None:
    got = _batch(entry, HOSTILE)
    expected = [_server(entry, cell) for cell in HOSTILE]
    assert got == expected
    assert ("fed", [np.float64(-0.0).view(np.int64)]) in got  # "-0" keeps its sign bit
    # both paths are exercised: cells Arrow parses and cells the engine refuses or reads
    assert {kind for kind, _ in got} == {"fed", "refused"}


@settings(max_examples=200, deadline=None)
@given(cells=st.lists(numeric_ish | st.none(), min_size=1, max_size=20))
def test_any_numeric_ish_text_has_the_servers_outcome(cells: list[str | None]) -> None:
    assert _batch(NUMERIC, cells) == [_server(NUMERIC, cell) for cell in cells]


@settings(max_examples=300, deadline=None)
@given(text=numeric_ish)
def test_re2_cell_match_is_pythons_fullmatch(text: str) -> None:
    assert numeric_text_cells(pa.array([text])).tolist() == [
        re.fullmatch(NUMERIC_TEXT, text) is not None
    ]


def test_a_sliced_chunk_with_nulls_reads_its_own_cells() -> None:
    """Chunks are slices of the reader's blocks: offsets and validity bitmaps must be honoured."""
    column = pa.array(["x", None, "1.5", " 2 ", None, "bad", "3e1", "4"] * 3, pa.string())
    for start in range(0, 9):
        cells = column.slice(start, 13)
        result = ChunkValidator([NUMERIC]).validate(pa.table({"amount": cells}))
        assert _batch(NUMERIC, cells.to_pylist()) == [
            _server(NUMERIC, cell) for cell in cells.to_pylist()
        ]
        assert result.n_rows == 13


# --- a whole CSV file, through the reader -----------------------------------------------------


def _cells(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float):
        return "inf" if math.isinf(value) else repr(value)
    return str(value)


def test_a_hostile_csv_scores_and_refuses_as_the_server(
    gated_model: Path, inputs: Inputs, tmp_path: Path
) -> None:
    model = Model(load_artifact(Settings(), str(gated_model)))
    base = inputs.table.slice(0, 600).to_pylist()
    numeric = [i["name"] for i in model.inputs if i["kind"] == "numeric"]
    categorical = [i["name"] for i in model.inputs if i["kind"] == "categorical"]
    # cells with a line break stay in the engine-level tests above: the reader splits its blocks
    # at line ends (ParseOptions.newlines_in_values is off), which is a property of the reader
    hostile = [c for c in HOSTILE if c is None or not any(ch in c for ch in "\r\n")]
    rows = []
    for r, row in enumerate(base):
        cells = {name: _cells(row[name]) for name in [*numeric, *categorical]}
        if r % 3 == 0:  # a hostile numeric cell in one column, round robin
            cells[numeric[r % len(numeric)]] = hostile[(r // 3) % len(hostile)]
        if r % 50 == 1:
            cells[categorical[r % len(categorical)]] = [" nov ", "NOV", "x\x00", "é" * 300][r % 4]
        rows.append({"session_id": str(r), **cells})
    table = pa.table({name: pa.array([row[name] for row in rows], pa.string()) for name in rows[0]})
    pacsv.write_csv(table, tmp_path / "hostile.csv")
    out, rejects = tmp_path / "out.parquet", tmp_path / "rejects.parquet"
    summary = score_file(
        model,
        tmp_path / "hostile.csv",
        out,
        rejects_path=rejects,
        keys=["session_id"],
        chunk_rows=97,
        progress=False,
    )

    schema = InputSchema(model.inputs)
    expected_problems: list[tuple[int, str, str]] = []
    accepted: list[int] = []
    for r, row in enumerate(rows):
        json_row = {k: v for k, v in row.items() if k != "session_id"}
        try:
            schema.validate_rows([json_row])
            accepted.append(r)
        except InvalidRows as refused:
            expected_problems.extend((r, str(p.column), p.reason) for p in refused.problems)
    got = pq.read_table(rejects)
    assert (
        list(
            zip(
                got["row"].to_pylist(),
                got["column"].to_pylist(),
                got["reason"].to_pylist(),
                strict=True,
            )
        )
        == expected_problems
    )
    feeds, _ = schema.rows_to_feeds(
        [{k: v for k, v in rows[r].items() if k != "session_id"} for r in accepted]
    )
    expected_p = model.score(feeds).probabilities[:, 1].astype(np.float64).tolist()
    scored = pq.read_table(out)
    assert scored["session_id"].to_pylist() == [str(r) for r in accepted]
    assert scored["probability"].to_pylist() == expected_p  # exact: same feeds, same graph
    assert summary.rejected == len(rows) - len(accepted) > 100
    assert summary.scored == len(accepted) > 300


def test_if_arrow_ever_refused_a_matched_cell_the_engine_decides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tabship.runtime.batch import rejects as batch_schema

    def refuses(*_: Any) -> np.ndarray:
        raise pa.ArrowInvalid("Failed to parse string")

    monkeypatch.setattr(batch_schema, "parse_numeric_text", refuses)
    assert _batch(NUMERIC, HOSTILE) == [_server(NUMERIC, cell) for cell in HOSTILE]
    assert _batch(NUMERIC, ["1", "2"]) == [_server(NUMERIC, cell) for cell in ["1", "2"]]
