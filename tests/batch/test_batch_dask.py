"""tabship score --engine dask on a real dask.distributed cluster: two worker processes over TCP
on 127.0.0.1. Output and rejects equal local scoring row for row; a worker killed mid-job loses
and duplicates nothing."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import Inputs  # tests/batch/conftest.py

from tabship.runtime.batch.chunks import Summary, score_file
from tabship.runtime.model.artifact import load_artifact
from tabship.runtime.model.session import Model
from tabship.runtime.settings import Settings

pytestmark = pytest.mark.slow

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        protocol="tcp",
        dashboard_address=None,
    ) as local:
        assert local.scheduler_address.startswith("tcp://127.0.0.1:")
        yield local.scheduler_address


@pytest.fixture(scope="module")
def local_result(
    gated_model: Path, inputs: Inputs, tmp_path_factory: pytest.TempPathFactory
) -> tuple[pa.Table, pa.Table]:
    folder = tmp_path_factory.mktemp("local")
    model = Model(load_artifact(Settings(), str(gated_model)))
    score_file(
        model,
        inputs.parquet,
        folder / "out.parquet",
        rejects_path=folder / "rejects.parquet",
        keys=["session_id"],
        progress=False,
    )
    return _sorted(pq.read_table(folder / "out.parquet")), _sorted(
        pq.read_table(folder / "rejects.parquet")
    )


def _sorted(table: pa.Table) -> pa.Table:
    order = [("session_id", "ascending")]
    if "row" in table.column_names:
        order = [("row", "ascending"), ("column", "ascending")]
    return table.sort_by(order).combine_chunks()


def _score(gated_model: Path, source: str, out: Path, cluster: str, **options: object) -> Summary:
    from tabship.runtime.batch.dask_engine import score_dask

    settings = options.pop("settings", None) or Settings(model_uri=str(gated_model))
    return score_dask(
        settings,
        source,
        str(out / "scored"),
        rejects=str(out / "rejects"),
        keys=("session_id",),
        scheduler=cluster,
        progress=False,
        **options,
    )  # type: ignore[arg-type]


def test_dask_output_and_rejects_equal_local(
    gated_model: Path,
    inputs: Inputs,
    cluster: str,
    tmp_path: Path,
    local_result: tuple[pa.Table, pa.Table],
) -> None:
    summary = _score(gated_model, str(inputs.directory), tmp_path, cluster, partitions=5)
    scored = _sorted(pq.read_table(tmp_path / "scored"))
    rejects = _sorted(pq.read_table(tmp_path / "rejects"))
    assert scored.equals(local_result[0])
    assert rejects.equals(local_result[1])
    assert summary.rows == inputs.n_rows
    assert summary.scored == scored.num_rows
    assert len(list((tmp_path / "scored").glob("part-*.parquet"))) == 5
    assert not list(tmp_path.glob(".*partial*"))


def test_dask_reads_csv_like_the_local_engine(
    gated_model: Path, inputs: Inputs, cluster: str, tmp_path: Path
) -> None:
    model = Model(load_artifact(Settings(), str(gated_model)))
    score_file(
        model,
        inputs.csv,
        tmp_path / "local.parquet",
        rejects_path=tmp_path / "local-rejects.parquet",
        keys=["session_id"],
        progress=False,
    )
    _score(gated_model, str(inputs.csv), tmp_path, cluster, partitions=3)
    assert _sorted(pq.read_table(tmp_path / "scored")).equals(
        _sorted(pq.read_table(tmp_path / "local.parquet"))
    )
    assert _sorted(pq.read_table(tmp_path / "rejects")).equals(
        _sorted(pq.read_table(tmp_path / "local-rejects.parquet"))
    )


def test_a_worker_killed_mid_job_loses_and_duplicates_nothing(
    gated_model: Path,
    inputs: Inputs,
    cluster: str,
    tmp_path: Path,
    local_result: tuple[pa.Table, pa.Table],
) -> None:
    # Slow partitions (a test-only delay before every inference call) so the kill lands mid-job.
    slow = Settings(model_uri=str(gated_model), testonly_score_delay_ms=400)
    outcome: dict[str, object] = {}

    def job() -> None:
        try:
            outcome["summary"] = _score(
                gated_model, str(inputs.parquet), tmp_path, cluster, partitions=24, settings=slow
            )
        except BaseException as error:  # reported by the assertion below
            outcome["error"] = error

    with distributed.Client(cluster) as client:
        pids = client.run(os.getpid)
        runner = threading.Thread(target=job)
        runner.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if len(list(tmp_path.glob(".scored.partial-*/part-*.parquet"))) >= 3:
                break
            time.sleep(0.05)
        written_before_kill = len(list(tmp_path.glob(".scored.partial-*/part-*.parquet")))
        victim = sorted(pids.values())[0]
        os.kill(victim, signal.SIGKILL)
        runner.join(timeout=120)
    assert not runner.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert 3 <= written_before_kill < 24  # the kill happened while partitions were running
    scored = pq.read_table(tmp_path / "scored")
    ids = scored["session_id"].to_pylist()
    assert len(ids) == len(set(ids))  # nothing twice
    assert _sorted(scored).equals(local_result[0])  # nothing lost, same numbers
    assert _sorted(pq.read_table(tmp_path / "rejects")).equals(local_result[1])
