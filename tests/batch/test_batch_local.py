"""tabship score, local engine: same rules and numbers as the HTTP path, every row accounted for."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from conftest import Inputs  # tests/batch/conftest.py

from tabship.runtime.batch.chunks import BatchError, score_file
from tabship.runtime.batch.rejects import ChunkValidator
from tabship.runtime.dataplane.errors import InvalidRows
from tabship.runtime.model.artifact import load_artifact
from tabship.runtime.model.schema import InputSchema
from tabship.runtime.model.session import Model
from tabship.runtime.settings import Settings


@pytest.fixture(scope="module")
def model(gated_model: Path) -> Model:
    return Model(load_artifact(Settings(), str(gated_model)))


def _http_expectation(model: Model, rows: list[dict[str, Any]]) -> tuple[dict[int, Any], set[int]]:
    """What the server's row validator + the session give, row by row: {row: (p, decision,
    label)} for accepted rows and the set of refused rows."""
    schema = InputSchema(model.inputs)
    accepted: list[int] = []
    refused: set[int] = set()
    for r, row in enumerate(rows):
        try:
            schema.validate_rows([row])
            accepted.append(r)
        except InvalidRows:
            refused.add(r)
    feeds, _ = schema.rows_to_feeds([rows[r] for r in accepted])
    scores = model.score(feeds)
    expected = {
        r: (float(p), int(d), int(lab))
        for r, p, d, lab in zip(
            accepted,
            scores.probabilities[:, 1].tolist(),
            scores.decisions.tolist(),
            scores.labels.tolist(),
            strict=True,
        )
    }
    return expected, refused


def _json_rows(table: pa.Table) -> list[dict[str, Any]]:
    return table.drop_columns(["session_id"]).to_pylist()  # a null cell is a JSON null


def _check_against_http(model: Model, out: Path, rejects: Path, rows: list[dict[str, Any]]) -> None:
    expected, refused = _http_expectation(model, rows)
    scored = pq.read_table(out)
    got = {
        sid: (p, d, lab)
        for sid, p, d, lab in zip(
            scored["session_id"].to_pylist(),
            scored["probability"].to_pylist(),
            scored["label"].to_pylist(),
            scored["label_at_0_5"].to_pylist(),
            strict=True,
        )
    }
    assert got == expected  # exact: same feeds, same graph
    rejected = pq.read_table(rejects)
    assert set(rejected["row"].to_pylist()) == refused
    assert rejected["row"].to_pylist() == rejected["session_id"].to_pylist()
    assert len(got) + len(refused) == len(rows)
    assert scored["model_name"].unique().to_pylist() == [model.name]
    assert scored["model_version"].unique().to_pylist() == [model.version]
    assert scored.schema.field("probability").type == pa.float64()


def test_parquet_scores_equal_the_http_path(model: Model, inputs: Inputs, tmp_path: Path) -> None:
    out, rejects = tmp_path / "out.parquet", tmp_path / "rejects.parquet"
    summary = score_file(
        model,
        inputs.parquet,
        out,
        rejects_path=rejects,
        keys=["session_id"],
        chunk_rows=700,
        progress=False,
    )
    assert summary.rows == inputs.n_rows
    assert summary.rejected > 0
    assert summary.scored + summary.rejected == summary.rows
    _check_against_http(model, out, rejects, _json_rows(inputs.table))


def test_csv_text_scores_equal_the_http_path_with_text_cells(
    model: Model, inputs: Inputs, tmp_path: Path
) -> None:
    out, rejects = tmp_path / "out.parquet", tmp_path / "rejects.parquet"
    summary = score_file(
        model,
        inputs.csv,
        out,
        rejects_path=rejects,
        keys=["session_id"],
        chunk_rows=512,
        progress=False,
    )
    assert summary.rejected > 0
    text = pacsv.read_csv(
        inputs.csv,
        convert_options=pacsv.ConvertOptions(
            column_types={
                n: pa.string() for n in model.manifest and [i["name"] for i in model.inputs]
            },
            null_values=[""],
            strings_can_be_null=True,
        ),
    )
    out_ids = pq.read_table(out)["session_id"]
    assert out_ids.type == pa.string()  # CSV keys pass through as text
    table = text.set_column(0, "session_id", text["session_id"].cast(pa.string()))
    rows = _json_rows(table)
    expected, refused = _http_expectation(model, rows)
    scored = pq.read_table(out)
    assert dict(
        zip(scored["session_id"].to_pylist(), scored["probability"].to_pylist(), strict=True)
    ) == {str(r): v[0] for r, v in expected.items()}
    assert set(pq.read_table(rejects)["row"].to_pylist()) == refused
    reasons = set(pq.read_table(rejects)["reason"].to_pylist())
    assert any("is not a number" in reason for reason in reasons)  # "n/a", "?" ... as text


def test_chunk_size_does_not_change_the_output(
    model: Model, inputs: Inputs, tmp_path: Path
) -> None:
    tables = []
    for chunk in (7, 1000, 100_000):
        out = tmp_path / f"out-{chunk}.parquet"
        rejects = tmp_path / f"rejects-{chunk}.csv"
        score_file(
            model,
            inputs.parquet,
            out,
            rejects_path=rejects,
            keys=["session_id"],
            chunk_rows=chunk,
            workers=3,
            progress=False,
        )
        tables.append((pq.read_table(out), pacsv.read_csv(rejects)))
    for scored, rejected in tables[1:]:
        assert scored.equals(tables[0][0])
        assert rejected.equals(tables[0][1])


def test_a_directory_of_parquet_files_numbers_rows_through_the_files(
    model: Model, inputs: Inputs, tmp_path: Path
) -> None:
    one = score_file(
        model,
        inputs.parquet,
        tmp_path / "a.parquet",
        rejects_path=tmp_path / "ra.parquet",
        keys=["session_id"],
        progress=False,
    )
    many = score_file(
        model,
        inputs.directory,
        tmp_path / "b.parquet",
        rejects_path=tmp_path / "rb.parquet",
        keys=["session_id"],
        progress=False,
    )
    assert (one.rows, one.rejected) == (many.rows, many.rejected)
    assert pq.read_table(tmp_path / "a.parquet").equals(pq.read_table(tmp_path / "b.parquet"))
    assert pq.read_table(tmp_path / "ra.parquet").equals(pq.read_table(tmp_path / "rb.parquet"))


def test_csv_output_and_every_problem_of_a_row_listed(model: Model, tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": ["a", "b", "c"],
            **{i["name"]: pa.array([None, None, None], pa.string()) for i in model.inputs},
        }
    )
    table = table.set_column(
        table.schema.get_field_index("PageValues"), "PageValues", pa.array(["1.5", "oops", "?"])
    )
    table = table.set_column(
        table.schema.get_field_index("ExitRates"), "ExitRates", pa.array(["0.1", "0.2", "x"])
    )
    pq.write_table(table, tmp_path / "in.parquet")
    summary = score_file(
        model,
        tmp_path / "in.parquet",
        tmp_path / "out.csv",
        rejects_path=tmp_path / "rejects.csv",
        keys=["id"],
        progress=False,
    )
    assert (summary.rows, summary.scored, summary.rejected, summary.problems) == (3, 1, 2, 3)
    out = pacsv.read_csv(tmp_path / "out.csv")
    assert out.column_names == [
        "id",
        "probability",
        "label",
        "label_at_0_5",
        "model_name",
        "model_version",
    ]
    assert out["id"].to_pylist() == ["a"]
    rejects = pacsv.read_csv(tmp_path / "rejects.csv").to_pylist()
    assert [(r["row"], r["column"], r["id"]) for r in rejects] == [
        (1, "PageValues", "b"),
        (2, "ExitRates", "c"),
        (2, "PageValues", "c"),
    ]
    assert rejects[0]["reason"] == "'oops' is not a number"


def test_refusals(model: Model, inputs: Inputs, tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    out.write_bytes(b"keep me")
    with pytest.raises(BatchError, match="already exists"):
        score_file(model, inputs.parquet, out, progress=False)
    assert out.read_bytes() == b"keep me"
    with pytest.raises(BatchError, match="no such file"):
        score_file(model, tmp_path / "absent.parquet", tmp_path / "o.parquet", progress=False)
    with pytest.raises(BatchError, match="key column"):
        score_file(model, inputs.parquet, tmp_path / "o.parquet", keys=["nope"], progress=False)
    partial = inputs.table.drop_columns(["PageValues"])
    pq.write_table(partial, tmp_path / "partial.parquet")
    with pytest.raises(BatchError, match="PageValues"):
        score_file(model, tmp_path / "partial.parquet", tmp_path / "o.parquet", progress=False)
    summary = score_file(
        model,
        tmp_path / "partial.parquet",
        tmp_path / "o.parquet",
        allow_absent=True,
        progress=False,
    )
    assert summary.absent_columns == ("PageValues",)
    assert not list(tmp_path.glob(".*partial"))  # no temporary file left behind


def test_a_non_nullable_column_is_required(model: Model) -> None:
    inputs = [dict(entry) for entry in model.inputs]
    inputs[0]["nullable"] = False
    validator = ChunkValidator(inputs)
    assert validator.missing_required([i["name"] for i in inputs[1:]]) == [inputs[0]["name"]]
    batch = pa.table({inputs[0]["name"]: pa.array([1.0, None, math.nan])})
    result = validator.validate(batch.append_column(inputs[1]["name"], pa.array([1.0, 2.0, 3.0])))
    assert result.problem_rows.tolist() == [1, 2]
    assert np.array_equal(result.good, [True, False, False])
