"""`tabship score` as a command: its process stays free of the training stack, errors are one
clear line with a non-zero exit, the summary line is printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import Inputs  # tests/batch/conftest.py

pytestmark = pytest.mark.slow  # one interpreter per run

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = (
    "pandas",
    "sklearn",
    "xgboost",
    "joblib",
    "skl2onnx",
    "onnxmltools",
    "training",
    "export",
)

# Runs `tabship score` in a fresh interpreter, then reports which forbidden modules it loaded.
_PROBE = """
import sys
from tabship.cli.main import main
code = main(sys.argv[1:])
loaded = [m for m in {forbidden!r} if m in sys.modules]
print("LOADED", ",".join(loaded))
sys.exit(code)
"""


def score(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _PROBE.format(forbidden=FORBIDDEN), "score", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def test_local_scoring_loads_no_pandas_or_training_stack(
    gated_model: Path, inputs: Inputs, tmp_path: Path
) -> None:
    for i, source in enumerate((inputs.parquet, inputs.csv, inputs.directory)):
        out = tmp_path / f"out-{i}.parquet"
        done = score(
            "--model",
            str(gated_model),
            str(source),
            str(out),
            "--keys",
            "session_id",
            "--rejects",
            str(tmp_path / f"rejects-{i}.csv"),
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[-1] == "LOADED ", done.stdout
        assert f"rows {inputs.n_rows}, scored " in done.stderr
        assert "rows/s" in done.stderr
        assert pq.read_table(out).num_rows > 0


def test_errors_are_one_line_without_traceback(
    gated_model: Path, inputs: Inputs, tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"PAR1 this is not parquet")
    partial = tmp_path / "partial.parquet"
    pq.write_table(inputs.table.drop_columns(["Month", "Region"]), partial)
    existing = tmp_path / "exists.parquet"
    existing.write_bytes(b"")
    ungated = tmp_path / "ungated"
    ungated.mkdir()
    for name in ("model.onnx", "manifest.json"):
        (ungated / name).write_bytes((gated_model / name).read_bytes())
    manifest = (
        (ungated / "manifest.json").read_text().replace('"status": "passed"', '"status": "failed"')
    )
    (ungated / "manifest.json").write_text(manifest)
    model = str(gated_model)
    out = str(tmp_path / "o.parquet")
    cases = [
        (["--model", model, str(tmp_path / "absent.csv"), out], "absent.csv: no such file"),
        (["--model", model, str(garbage), out], "cannot read as Parquet"),
        (["--model", model, str(partial), out], "missing: Month, Region"),
        (["--model", model, str(inputs.parquet), str(existing)], "already exists"),
        (["--model", model, str(inputs.parquet), out, "--keys", "nope"], "key column(s) nope"),
        (["--model", model, str(inputs.parquet), str(tmp_path / "o.txt")], "use --format"),
        (["--model", str(ungated), str(inputs.parquet), out], "parity.status is 'failed'"),
        ([str(inputs.parquet), out], "no model"),
    ]
    for args, message in cases:
        done = score(*args)
        assert done.returncode != 0, args
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
        assert done.stderr.startswith("tabship score: ")
    assert not (tmp_path / "o.parquet").exists()
    assert existing.read_bytes() == b""


def test_allow_absent_columns_reaches_the_scorer(
    gated_model: Path, inputs: Inputs, tmp_path: Path
) -> None:
    source = tmp_path / "no_pagevalues.parquet"
    pq.write_table(inputs.table.drop_columns(["PageValues"]), source)
    refused = score("--model", str(gated_model), str(source), str(tmp_path / "a.parquet"))
    assert refused.returncode == 2
    assert "PageValues" in refused.stderr
    allowed = score(
        "--model",
        str(gated_model),
        str(source),
        str(tmp_path / "b.parquet"),
        "--allow-absent-columns",
    )
    assert allowed.returncode == 0, allowed.stderr
    assert pq.read_table(tmp_path / "b.parquet").num_rows > 0


def test_nested_and_repeated_columns_are_refused_by_name(
    gated_model: Path, inputs: Inputs, tmp_path: Path
) -> None:
    import pyarrow as pa

    n = inputs.table.num_rows
    nested = inputs.table.set_column(
        inputs.table.schema.get_field_index("PageValues"),
        "PageValues",
        pa.array([[1.0]] * n, type=pa.list_(pa.float64())),
    )
    repeated = inputs.table.append_column("Month", inputs.table.column("Month"))
    for name, table, expected in [
        ("nested", nested, "'PageValues' holds list<"),
        ("repeated", repeated, "appear more than once: Month"),
    ]:
        source = tmp_path / f"{name}.parquet"
        pq.write_table(table, source)
        done = score(
            "--model", str(gated_model), str(source), str(tmp_path / f"{name}-out.parquet")
        )
        assert done.returncode == 2, done.stderr
        assert expected in done.stderr
        assert "Traceback" not in done.stderr


def test_default_workers_are_one_per_available_cpu() -> None:
    import argparse
    import os

    from tabship.runtime.batch.cli import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["in.csv", "out.parquet"])
    assert args.workers == len(os.sched_getaffinity(0))
    assert args.chunk_rows == 32_768
