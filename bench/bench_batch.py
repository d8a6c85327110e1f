"""Throughput of `tabship score` against XGBoost and the reference pipeline, in ONE run.

    .venv/bin/python bench/bench_batch.py                 # 1M rows, trains a bench model once
    .venv/bin/python bench/bench_batch.py --model models/shoppers-full/<version> --rows 200000

Measures on the same rows (the default schema, dirty: some cells refused), in turns:
  - a tuning grid (chunk rows x parallel chunks) of score_file on --tune-rows of Parquet;
  - in memory: the whole contract on an Arrow table already in memory (runtime.batch.score_chunk
    per chunk on the thread pool: validation, feeds, the graph, output tables), no file I/O;
  - tabship score in-process (runtime.batch.score_file) on Parquet and on CSV (numbers as text);
  - the CLI end to end (a subprocess: start-up, model verification, read, validate, score, write)
    on Parquet and on CSV;
  - XGBoost's own booster.inplace_predict on the already-transformed float32 matrix (its threads
    as trained), and the reference scikit-learn pipeline's predict_proba (pandas, in memory).
Each measure is the median of --repeat runs, taken in turns so that a change in machine load hits
them alike. Prints a table with the issue-13 targets and writes bench/results/batch.json
(bench/results/ is git-ignored). Every tabship run uses onnxruntime intra-op threads 1 (what
keeps outputs bit-identical, bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tabship.training import evidence

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
BASE_ROWS = 100_000


def typed_table(frame: Any) -> pa.Table:
    """Raw generated rows as a typed table: numbers as float64 (text that is not a number becomes
    inf, which the validator refuses, so rejects happen), categories as text, null as null."""
    from tabship.training.default_data import CATEGORICAL_COLUMNS, NUMERIC_COLUMNS

    def number(value: Any) -> float | None:
        if value is None or isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return None if isinstance(value, float) and math.isnan(value) else float(value)
        try:
            return float(value)
        except ValueError:
            return math.inf

    def text(value: Any) -> str | None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    columns: dict[str, pa.Array] = {"session_id": pa.array(np.arange(len(frame)), pa.int64())}
    for name in NUMERIC_COLUMNS:
        columns[name] = pa.array([number(v) for v in frame[name]], pa.float64())
    for name in CATEGORICAL_COLUMNS:
        columns[name] = pa.array([text(v) for v in frame[name]], pa.string())
    return pa.table(columns)


def make_input(path: Path, rows: int) -> Path:
    if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
        return path
    from tabship.training.default_data import generate_sessions

    base = typed_table(generate_sessions(n_rows=min(rows, BASE_ROWS)))
    table = pa.concat_tables([base] * -(-rows // base.num_rows)).slice(0, rows)
    table = table.set_column(0, "session_id", pa.array(np.arange(rows), pa.int64()))
    pq.write_table(table, path, row_group_size=128 * 1024)
    return path


def make_model(registry: Path) -> Path:
    """A version trained like `make run` does (default data, search), exported and gated."""
    existing = sorted(registry.glob("shoppers-full/*/manifest.json"))
    for manifest in reversed(existing):
        if json.loads(manifest.read_text())["parity"]["status"] == "passed":
            return manifest.parent
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tabship.cli.main",
            "train",
            "--registry",
            str(registry),
            "--variants",
            "full",
        ],
        check=True,
    )
    return make_model(registry)


def write_csv(parquet: Path, path: Path) -> Path:
    """The same rows as CSV, every number as text (Arrow's own formatting, inf as "inf")."""
    rows = pq.ParquetFile(parquet).metadata.num_rows
    if path.exists() and path.stat().st_mtime >= parquet.stat().st_mtime:
        return path
    pacsv.write_csv(pq.read_table(parquet), path)
    assert pq.ParquetFile(parquet).metadata.num_rows == rows
    return path


def timed(function: Any) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def load_model(model_dir: Path) -> Any:
    from tabship.runtime.model.artifact import load_artifact
    from tabship.runtime.model.session import Model
    from tabship.runtime.settings import Settings

    return Model(load_artifact(Settings(), str(model_dir)), threads=1)


def score_file_run(model: Any, data: Path, out: Path, chunk: int, workers: int) -> float:
    from tabship.runtime.batch.chunks import score_file

    summary = score_file(
        model,
        data,
        out,
        keys=["session_id"],
        chunk_rows=chunk,
        workers=workers,
        overwrite=True,
        progress=False,
    )
    return float(summary.seconds)


def in_memory_run(model: Any, table: pa.Table, chunk: int, workers: int) -> float:
    """The whole contract on rows already in memory: score_chunk per chunk, `workers` at once."""
    from tabship.runtime.batch.chunks import score_chunk
    from tabship.runtime.batch.rejects import ChunkValidator

    validator = ChunkValidator(model.inputs)
    batches = table.to_batches(max_chunksize=chunk)
    starts = np.cumsum([0] + [b.num_rows for b in batches])[:-1].tolist()
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(
            pool.map(
                lambda item: score_chunk(model, validator, item[0], ["session_id"], item[1]),
                zip(batches, starts, strict=True),
            )
        )
    return time.perf_counter() - started


def cli_command(model_dir: Path, data: Path, out: Path, chunk: int, workers: int) -> list[str]:
    return [
        str(REPO / ".venv" / "bin" / "tabship"),
        "score",
        "--model",
        str(model_dir),
        str(data),
        str(out),
        "--keys",
        "session_id",
        "--overwrite",
        "--quiet",
        "--chunk-rows",
        str(chunk),
        "--workers",
        str(workers),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--tune-rows", type=int, default=200_000)
    parser.add_argument("--model", type=Path, help="a gated version directory")
    parser.add_argument("--chunks", default="16384,65536,131072")
    parser.add_argument("--workers", default="1,2,3")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measure (median)")
    parser.add_argument("--skip-reference", action="store_true", help="no sklearn pipeline run")
    parser.add_argument("--json", type=Path, default=RESULTS / "batch.json")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    model_dir = args.model or make_model(RESULTS / "registry")
    data = make_input(RESULTS / f"batch_input_{args.rows}.parquet", args.rows)
    csv = write_csv(data, RESULTS / f"batch_input_{args.rows}.csv")
    tune = make_input(RESULTS / f"batch_input_{args.tune_rows}.parquet", args.tune_rows)
    results: dict[str, Any] = {
        "rows": args.rows,
        "model": str(model_dir),
        "cpus": os.cpu_count(),
        "load_average_start": os.getloadavg(),
        "machine": platform.platform(),
        "python": platform.python_version(),
    }
    model = load_model(model_dir)
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "scored.parquet"
        # 1. tuning grid on the smaller input (median of --repeat, in turns)
        settings = [
            (int(c), int(w)) for c in args.chunks.split(",") for w in args.workers.split(",")
        ]
        samples: dict[tuple[int, int], list[float]] = {s: [] for s in settings}
        for _ in range(args.repeat):
            for chunk, workers in settings:
                samples[chunk, workers].append(score_file_run(model, tune, out, chunk, workers))
        grid = []
        for (chunk, workers), seconds in samples.items():
            rate = args.tune_rows / statistics.median(seconds)
            grid.append({"chunk_rows": chunk, "workers": workers, "rows_per_s": rate})
            print(
                f"tune {args.tune_rows} rows: chunk {chunk:>7} workers {workers}: "
                f"{rate:>10,.0f} rows/s",
                flush=True,
            )
        results["tuning"] = grid
        best = max(grid, key=lambda r: r["rows_per_s"])
        chunk, workers = best["chunk_rows"], best["workers"]
        results["chosen"] = {"chunk_rows": chunk, "workers": workers}
        # 2. the measures, in turns

        pipeline = evidence.read(model_dir).pipeline
        table = pq.read_table(data)
        frame = table.drop_columns(["session_id"]).to_pandas()
        frame = frame.astype({c: object for c in frame.columns if frame[c].dtype == object})
        matrix = np.ascontiguousarray(pipeline[:-1].transform(frame), dtype=np.float32)
        booster = pipeline[-1].get_booster()
        measures: dict[str, Any] = {
            "xgboost_inplace_predict": lambda: booster.inplace_predict(matrix),
            "tabship_in_memory": lambda: in_memory_run(model, table, chunk, workers),
            "tabship_parquet_in_process": lambda: score_file_run(model, data, out, chunk, workers),
            "tabship_csv_in_process": lambda: score_file_run(model, csv, out, chunk, workers),
            "tabship_cli_parquet": lambda: subprocess.run(
                cli_command(model_dir, data, out, chunk, workers), check=True
            ),
            "tabship_cli_csv": lambda: subprocess.run(
                cli_command(model_dir, csv, out, chunk, workers), check=True
            ),
        }
        if not args.skip_reference:
            measures["reference_predict_proba"] = lambda: pipeline.predict_proba(frame)
        times: dict[str, list[float]] = {name: [] for name in measures}
        for _ in range(args.repeat):
            for name, call in measures.items():
                # the in-memory run times itself (its chunk slicing is set-up, not scoring)
                took = float(call() if name == "tabship_in_memory" else timed(call))
                times[name].append(took)
                print(f"  {name}: {args.rows / took:,.0f} rows/s", flush=True)
        results["load_average_end"] = os.getloadavg()
        results["seconds"] = times
        rates = {name: args.rows / statistics.median(values) for name, values in times.items()}
        results["rows_per_s"] = rates
    xgb = rates["xgboost_inplace_predict"]
    targets: dict[str, tuple[str, Callable[[float], bool]]] = {
        "tabship_in_memory": ("x xgboost >= 0.6", lambda r: r / xgb >= 0.6),
        "tabship_cli_parquet": ("x xgboost >= 0.5", lambda r: r / xgb >= 0.5),
        "tabship_csv_in_process": (">= 200k rows/s", lambda r: r >= 200_000),
        "tabship_cli_csv": (">= 200k rows/s", lambda r: r >= 200_000),
    }
    lines = [
        f"batch scoring, {args.rows:,} rows, {os.cpu_count()} CPUs, model {model_dir.name}, "
        f"chunk {chunk}, {workers} workers, 1 ort thread, median of {args.repeat}",
        f"{'what':<30}{'rows/s':>12}{'x xgboost':>11}  target",
    ]
    for name, rate in rates.items():
        target, met = targets.get(name, ("", lambda _: True))
        verdict = "" if not target else (" met" if met(rate) else " MISSED")
        lines.append(f"{name:<30}{rate:>12,.0f}{rate / xgb:>11.2f}  {target}{verdict}")
    results["table"] = lines
    print("\n".join(lines))
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
