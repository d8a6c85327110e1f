"""`tabship score` never destroys data: OUTPUT, --rejects and the input are distinct places
(after resolving paths), --overwrite replaces only what tabship score wrote and only once the
new output is complete; a CSV's blocks stay bounded whatever its rows look like, and a file
pyarrow cannot read is exit 2 every time (never an abort)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from conftest import Inputs  # tests/batch/conftest.py

from tabship.cli.main import main
from tabship.runtime.batch import chunks

REPO = Path(__file__).resolve().parents[2]


def digest(path: Path) -> str:
    if path.is_dir():
        return hashlib.sha256(
            b"".join(
                p.name.encode() + p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
            )
        ).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def score(model: Path, *args: str | Path) -> int:
    return main(["score", "--model", str(model), "--quiet", *map(str, args)])


def test_local_refuses_shared_places(
    gated_model: Path, inputs: Inputs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {p: digest(p) for p in (inputs.parquet, inputs.csv, inputs.directory)}
    out = tmp_path / "out.parquet"
    sneaky = inputs.parquet.parent / "x" / ".." / inputs.parquet.name
    cases = [
        ([inputs.parquet, out, "--rejects", out], "is OUTPUT"),
        ([inputs.parquet, inputs.parquet, "--overwrite"], "is the input"),
        ([inputs.parquet, sneaky, "--overwrite"], "is the input"),
        ([inputs.parquet, out, "--rejects", inputs.parquet, "--overwrite"], "is the input"),
        ([inputs.directory, inputs.directory / "o.parquet"], "inside the input"),
        ([inputs.csv, inputs.csv, "--overwrite", "--format", "csv"], "is the input"),
    ]
    for args, message in cases:
        assert score(gated_model, *args) == 2, args
        err = capsys.readouterr().err
        assert message in err, (args, err)
        assert "Traceback" not in err
    assert not out.exists()
    assert {p: digest(p) for p in before} == before


def test_overwrite_replaces_only_what_tabship_wrote(
    gated_model: Path, inputs: Inputs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for suffix in (".parquet", ".csv"):
        mine = tmp_path / f"unrelated{suffix}"
        if suffix == ".parquet":
            pq.write_table(pa.table({"precious": [1, 2, 3]}), mine)
        else:
            mine.write_text("precious,data\n1,2\n")
        kept = digest(mine)
        assert score(gated_model, inputs.parquet, mine, "--overwrite") == 2
        assert "not written by tabship score" in capsys.readouterr().err
        assert digest(mine) == kept
        # tabship's own output (and rejects) is replaced by the next run
        out, rejects = tmp_path / f"out{suffix}", tmp_path / f"rejects{suffix}"
        assert (
            score(gated_model, inputs.parquet, out, "--rejects", rejects, "--keys", "session_id")
            == 0
        )
        first = digest(out)
        small = tmp_path / "small.parquet"
        pq.write_table(inputs.table.slice(0, 10), small)
        command = [small, out, "--rejects", rejects, "--keys", "session_id", "--overwrite"]
        assert score(gated_model, *command) == 0
        assert digest(out) != first
        if suffix == ".parquet":
            assert pq.read_table(out).num_rows <= 10
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_a_failed_run_keeps_the_previous_output(
    gated_model: Path, inputs: Inputs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, rejects = tmp_path / "out.parquet", tmp_path / "rejects.parquet"
    assert score(gated_model, inputs.parquet, out, "--rejects", rejects) == 0
    kept = (digest(out), digest(rejects))
    broken = tmp_path / "broken.csv"
    text = inputs.csv.read_text()
    broken.write_text(text + "1,2,3\n")  # a short row at the end: the read fails late
    command = [broken, out, "--rejects", rejects, "--overwrite", "--chunk-rows", "100"]
    assert score(gated_model, *command) == 2
    assert "read failed" in capsys.readouterr().err  # after chunks were scored and written
    assert (digest(out), digest(rejects)) == kept
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_csv_blocks_stay_bounded_with_long_rows(
    gated_model: Path, inputs: Inputs, tmp_path: Path
) -> None:
    """A short first row, then rows of ~100 KiB: the block guess was 64 KiB x chunk rows
    (an int32 OverflowError, or gigabytes)."""
    table = pacsv.read_csv(inputs.csv).slice(0, 30)
    padding = ["x"] * 1 + ["y" * 100_000] * (table.num_rows - 1)
    padding[0] = "s"
    long_rows = tmp_path / "long.csv"
    pacsv.write_csv(table.append_column("notes", pa.array(padding)), long_rows)
    assert chunks._csv_block_size(long_rows, chunks.DEFAULT_CHUNK_ROWS) <= chunks.CSV_MAX_BLOCK
    out = tmp_path / "out.parquet"
    assert score(gated_model, long_rows, out, "--rejects", tmp_path / "r.parquet") == 0
    assert pq.read_table(out).num_rows + pq.read_table(tmp_path / "r.parquet").num_rows > 0


@pytest.mark.slow
def test_unreadable_csv_is_exit_2_every_time(gated_model: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    utf16 = tmp_path / "utf16.csv"
    utf16.write_text("PageValues,Month\n1.0,Nov\n", encoding="utf-16")
    codes = []
    for source in (empty, utf16):
        for run in range(6):
            done = subprocess.run(
                [
                    *(sys.executable, "-m", "tabship.cli.main", "score"),
                    *("--model", str(gated_model), str(source), str(tmp_path / f"o{run}.parquet")),
                ],
                capture_output=True,
                text=True,
                cwd=REPO,
                timeout=120,
            )
            codes.append(done.returncode)
            assert "Traceback" not in done.stderr
            assert done.stderr.startswith("tabship score: ")
    assert codes == [2] * 12


def test_dask_refuses_shared_places_and_foreign_folders(
    gated_model: Path, inputs: Inputs, tmp_path: Path
) -> None:
    """The cases that wiped data (issue 25): OUTPUT naming an unrelated folder, the input, or
    --rejects; all refused before a cluster starts, nothing touched."""
    from tabship.runtime.batch.chunks import BatchError
    from tabship.runtime.batch.dask_engine import score_dask
    from tabship.runtime.settings import Settings

    unrelated = tmp_path / "photos"
    unrelated.mkdir()
    (unrelated / "holiday.jpg").write_bytes(b"precious")
    settings = Settings(model_uri=str(gated_model))
    before = {p: digest(p) for p in (inputs.directory, unrelated)}
    source = str(inputs.directory)
    cases = [
        (source, str(unrelated), None, "not written by tabship score"),
        (source, source, None, "is the input"),
        (source, str(inputs.directory / "sub"), None, "inside the input"),
        (source, str(tmp_path / "scored"), str(tmp_path / "scored"), "is OUTPUT"),
        (source, str(tmp_path / "scored"), source, "is the input"),
    ]
    for input_url, output, rejects, message in cases:
        with pytest.raises(BatchError, match=message):
            score_dask(settings, input_url, output, rejects=rejects, overwrite=True, progress=False)
    assert {p: digest(p) for p in before} == before
    assert not (tmp_path / "scored").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["photos"]


def test_dask_overwrite_replaces_its_own_output_once_complete(
    gated_model: Path, inputs: Inputs, tmp_path: Path
) -> None:
    from tabship.runtime.batch.dask_engine import score_dask
    from tabship.runtime.batch.outputs import DIRECTORY_MARKER
    from tabship.runtime.settings import Settings

    settings = Settings(model_uri=str(gated_model))
    out = tmp_path / "scored"
    small = tmp_path / "small.parquet"
    pq.write_table(inputs.table.slice(0, 50), small)
    for source in (str(inputs.parquet), str(small)):
        score_dask(settings, source, str(out), overwrite=True, progress=False, n_workers=1)
        assert (out / DIRECTORY_MARKER).is_file()
    assert 0 < pq.read_table(out).num_rows <= 50  # the second run only (refused rows counted)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
