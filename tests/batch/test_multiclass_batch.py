"""`tabship score` on a multiclass model: one `probability_<class>` column per class (names made
safe and unique), `label` as the class name and `label_index`; equal to onnxruntime on the file
and to the reference pipeline; rejects as for a binary model; the dask engine writes the same."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from tabship.contract.target import probability_columns
from tabship.parity_tests.compare import feeds_for
from tabship.runtime.model.session import session_options
from tabship.training import evidence

REPO = Path(__file__).resolve().parents[2]


def test_probability_columns_are_safe_and_unique() -> None:
    names = probability_columns(
        ["Adelie", "a b", "a-b", "A_B", "", "é", "label", "probability_x"], taken=["id"]
    )
    assert names == [
        "probability_Adelie",
        "probability_a_b",
        "probability_a_b_2",
        "probability_A_B_3",
        "probability_class4",
        "probability_class5",
        "probability_label",
        "probability_probability_x",
    ]
    assert probability_columns(["x"], taken=["probability_x"]) == ["probability_x_2"]


def _input(version: Any, folder: Path) -> tuple[Path, Path, pd.DataFrame]:
    frame = version.trained.test_frame.copy()
    frame.insert(0, "row_id", [f"r{i}" for i in range(len(frame))])
    text = next(c.name for c in version.declaration.columns if c.kind == "categorical")
    bad = frame.copy()
    bad.loc[0, text] = "x" * 300  # over the length limit: one reject
    parquet, csv = folder / "in.parquet", folder / "in.csv"
    pq.write_table(pa.Table.from_pandas(bad, preserve_index=False), parquet)
    bad.to_csv(csv, index=False)
    return parquet, csv, frame


def _score(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tabship.cli.main", "score", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


@pytest.mark.parametrize("fixture", ["penguins_version", "failures_version"])
def test_score_writes_a_probability_column_per_class(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    version = request.getfixturevalue(fixture)
    classes = list(version.declaration.classes)
    parquet, csv, frame = _input(version, tmp_path)
    columns = probability_columns(classes, ["row_id"])
    session = ort.InferenceSession(
        str(version.version_dir / "model.onnx"), sess_options=session_options(1)
    )
    _, probabilities, decision = session.run(None, feeds_for(session, frame.iloc[1:]))
    reference = evidence.read(version.version_dir).pipeline.predict_proba(frame.iloc[1:, 1:])
    for source, out in ((parquet, "out.parquet"), (csv, "out.csv")):
        done = _score(
            "--model",
            str(version.version_dir),
            str(source),
            str(tmp_path / out),
            "--keys",
            "row_id",
            "--rejects",
            str(tmp_path / f"rejects-{out}"),
        )
        assert done.returncode == 0, done.stderr
        assert f"rows {len(frame)}, scored {len(frame) - 1}, rejected 1" in done.stderr
        table = (
            pq.read_table(tmp_path / out)
            if out.endswith("parquet")
            else pacsv.read_csv(tmp_path / out)
        )
        assert table.column_names == [
            "row_id",
            *columns,
            "label",
            "label_index",
            "model_name",
            "model_version",
        ]
        got = np.column_stack([table.column(c).to_numpy() for c in columns])
        assert np.abs(got - probabilities).max() == 0.0
        assert np.abs(got - reference).max() <= 1e-6
        assert table.column("label").to_pylist() == decision.tolist()
        assert [classes[i] for i in table.column("label_index").to_pylist()] == decision.tolist()
        assert table.column("row_id").to_pylist() == frame["row_id"].tolist()[1:]
        rejects = (
            pq.read_table(tmp_path / f"rejects-{out}")
            if out.endswith("parquet")
            else pacsv.read_csv(tmp_path / f"rejects-{out}")
        )
        assert rejects.column("row").to_pylist() == [0]


def test_dask_engine_writes_what_the_local_engine_writes(
    penguins_version: Any, tmp_path: Path
) -> None:
    distributed = pytest.importorskip("distributed")
    from tabship.runtime.batch.chunks import score_file
    from tabship.runtime.batch.dask_engine import score_dask
    from tabship.runtime.model.artifact import load_artifact
    from tabship.runtime.model.session import Model
    from tabship.runtime.settings import Settings

    parquet, _, _ = _input(penguins_version, tmp_path)
    model_dir = str(penguins_version.version_dir)
    model = Model(load_artifact(Settings(), model_dir))
    score_file(model, parquet, tmp_path / "local.parquet", keys=["row_id"], progress=False)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        score_dask(
            Settings(model_uri=model_dir),
            str(parquet),
            str(tmp_path / "dask"),
            keys=("row_id",),
            scheduler=cluster.scheduler_address,
            progress=False,
            partitions=2,
        )
    local = pq.read_table(tmp_path / "local.parquet").sort_by("row_id")
    dask = pq.read_table(tmp_path / "dask").sort_by("row_id")
    dask = dask.select(local.column_names)
    # the dask engine reads pandas' large_string keys as string; the scores are what is compared
    assert dask.equals(local.cast(dask.schema))
    assert dask.num_rows == local.num_rows == len(penguins_version.trained.test_frame) - 1
