"""Every ratio of issue 13's targets table, in ONE run, each beside its target. By hand only.

    .venv/bin/tabship train --registry /tmp/benchreg --variants full
    .venv/bin/python bench/bench_all.py --model "$(ls -d /tmp/benchreg/shoppers-full/*/ | tail -1)"

Runs, one after the other on the same machine (each part times its own contenders in turns,
so that a change in load hits them alike; numbers from different parts are not mixed):
  1. one row in-process (bench_speed.py): tabship's path (validation + feeds + Model.score),
     the bare trees-only graph of the same booster, the reference pipeline (XGBoost n_jobs=1);
  2. batch, --rows rows (bench_batch.py's generated rows, some refused): the whole contract on
     an Arrow table in memory (runtime.batch.score_chunk per chunk: validation, feeds, graph,
     output tables), `tabship score` end to end (a subprocess) on Parquet and on CSV (numbers
     as text), against XGBoost's `inplace_predict` on the ready float32 matrix; runtime.batch's
     default chunk size and workers; median of --repeat, in turns;
  3. HTTP POST /v1/predict (bench_server.py, wrk): `tabship serve` as configured by default
     (batching on) and with batching off, against bench/hello_app.py, at concurrency 1 and 64;
  4. `tabship serve` started --starts times: spawn -> /readyz 200, RSS after 200 requests.
Prints one table: measure, this run, target, met/MISSED; writes bench/results/all.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import bench_batch  # noqa: E402
import bench_server  # noqa: E402
import bench_speed  # noqa: E402

from tabship.training import evidence  # noqa: E402

# (key, what, target as text, met?) per line of the table
Check = tuple[str, str, str, Callable[[float], bool]]
CHECKS: list[Check] = [
    ("one_row_us", "one row in-process: tabship path, µs", "<= 60", lambda v: v <= 60),
    ("reference_over_tabship", "one row: reference / tabship path", ">= 350x", lambda v: v >= 350),
    ("tabship_over_trees", "one row: tabship path / trees-only graph", "<= 3x", lambda v: v <= 3),
    (
        "batch_in_memory_over_xgb",
        "batch in memory: tabship / XGBoost",
        ">= 0.6x",
        lambda v: v >= 0.6,
    ),
    ("cli_parquet_over_xgb", "CLI on Parquet: tabship / XGBoost", ">= 0.5x", lambda v: v >= 0.5),
    ("cli_csv_rows_per_s", "CLI on CSV, rows/s", ">= 200,000", lambda v: v >= 200_000),
    ("http_c1_share", "HTTP c=1: tabship / hello-world", ">= 60 %", lambda v: v >= 0.6),
    ("http_c64_share", "HTTP c=64: tabship / hello-world", ">= 75 %", lambda v: v >= 0.75),
    ("rss_mb", "RSS after 200 requests, MB", "< 100", lambda v: v < 100),
    ("ready_s", "start -> ready, s (median)", "< 0.5", lambda v: v < 0.5),
]


def one_row(model_dir: Path, calls: int, reference_calls: int) -> dict[str, Any]:
    result = bench_speed.measure(model_dir, calls, reference_calls, threads=1)
    t = result["times"]
    tabship = t["tabship_path"]["median_us"]
    return {
        "raw": result,
        "one_row_us": tabship,
        "trees_only_us": t["trees_only"]["median_us"],
        "reference_us": t["reference_predict_proba"]["median_us"],
        "reference_over_tabship": t["reference_predict_proba"]["median_us"]
        / t["tabship_path_beside_reference"]["median_us"],
        "tabship_over_trees": tabship / t["trees_only"]["median_us"],
    }


def batch(model_dir: Path, rows: int, repeat: int) -> dict[str, Any]:
    import subprocess

    import numpy as np
    import pyarrow.parquet as pq

    from tabship.runtime.batch.chunks import DEFAULT_CHUNK_ROWS, DEFAULT_WORKERS

    RESULTS.mkdir(parents=True, exist_ok=True)
    data = bench_batch.make_input(RESULTS / f"batch_input_{rows}.parquet", rows)
    csv = bench_batch.write_csv(data, RESULTS / f"batch_input_{rows}.csv")
    model = bench_batch.load_model(model_dir)
    pipeline = evidence.read(model_dir).pipeline
    table = pq.read_table(data)
    frame = table.drop_columns(["session_id"]).to_pandas()
    frame = frame.astype({c: object for c in frame.columns if frame[c].dtype == object})
    matrix = np.ascontiguousarray(pipeline[:-1].transform(frame), dtype=np.float32)
    booster = pipeline[-1].get_booster()
    chunk, workers = DEFAULT_CHUNK_ROWS, DEFAULT_WORKERS
    with tempfile.TemporaryDirectory(prefix="bench_all_") as scratch:
        out = Path(scratch) / "scored.parquet"

        def cli(path: Path) -> None:
            command = bench_batch.cli_command(model_dir, path, out, chunk, workers)
            subprocess.run(command, check=True)

        measures: dict[str, Callable[[], Any]] = {
            "xgboost_inplace_predict": lambda: booster.inplace_predict(matrix),
            "tabship_in_memory": lambda: bench_batch.in_memory_run(model, table, chunk, workers),
            "tabship_cli_parquet": lambda: cli(data),
            "tabship_cli_csv": lambda: cli(csv),
        }
        times: dict[str, list[float]] = {name: [] for name in measures}
        for _ in range(repeat):
            for name, call in measures.items():
                # the in-memory run times itself (its chunk slicing is set-up, not scoring)
                took = call() if name == "tabship_in_memory" else bench_batch.timed(call)
                times[name].append(float(took))
    rates = {name: rows / statistics.median(values) for name, values in times.items()}
    xgb = rates["xgboost_inplace_predict"]
    return {
        "rows": rows,
        "chunk_rows": chunk,
        "workers": workers,
        "rows_per_s": rates,
        "batch_in_memory_over_xgb": rates["tabship_in_memory"] / xgb,
        "cli_parquet_over_xgb": rates["tabship_cli_parquet"] / xgb,
        "cli_csv_rows_per_s": rates["tabship_cli_csv"],
    }


def http(model_dir: Path, seconds: float, warmup: float, workdir: Path) -> dict[str, Any]:
    tool = bench_server.pick_tool("wrk")
    result = bench_server.bench_http(model_dir, [1, 64], seconds, warmup, tool, workdir)
    points = result["points"]

    def share(server: str, concurrency: int) -> float:
        rps = float(points[server][str(concurrency)]["rps"])
        return rps / float(points["hello"][str(concurrency)]["rps"])

    return {
        "raw": result,
        "http_c1_share": share("batching_on", 1),
        "http_c64_share": share("batching_on", 64),
        "http_c1_share_batching_off": share("batching_off", 1),
        "http_c64_share_batching_off": share("batching_off", 64),
    }


def startup(model_dir: Path, starts: int, workdir: Path) -> dict[str, Any]:
    result = bench_server.bench_startup(model_dir, starts, workdir, warm_requests=200)
    return {
        "raw": result,
        "ready_s": result["tabship_ready_s_median"],
        "rss_mb": result["tabship_rss_mb_median"],
    }


def report(results: dict[str, Any]) -> list[str]:
    values: dict[str, float] = {}
    for part in ("one_row", "batch", "http", "startup"):
        values.update({k: v for k, v in results.get(part, {}).items() if isinstance(v, float)})
    lines = [
        "| measure | this run | target | met |",
        "|---|---:|---:|---|",
    ]
    for key, what, target, met in CHECKS:
        if key not in values:
            continue
        value = values[key]
        shown = f"{value:.0%}" if "share" in key else f"{value:,.2f}"
        lines.append(f"| {what} | {shown} | {target} | {'met' if met(value) else 'MISSED'} |")
    lines.append("")
    if "one_row" in results:
        r = results["one_row"]
        lines.append(
            f"one row: tabship path {r['one_row_us']:,.1f} µs, trees-only graph "
            f"{r['trees_only_us']:,.1f} µs, reference {r['reference_us']:,.0f} µs"
        )
    if "batch" in results:
        b = results["batch"]
        rates = ", ".join(f"{k} {v:,.0f}" for k, v in b["rows_per_s"].items())
        lines.append(
            f"batch {b['rows']:,} rows (chunk {b['chunk_rows']}, {b['workers']} workers), "
            f"rows/s: {rates}"
        )
    if "http" in results:
        points = results["http"]["raw"]["points"]
        for c in ("1", "64"):
            lines.append(
                f"HTTP c={c} req/s: hello {points['hello'][c]['rps']:,.0f}, tabship batching on "
                f"{points['batching_on'][c]['rps']:,.0f}, off {points['batching_off'][c]['rps']:,.0f} "
                f"(off: {results['http'][f'http_c{c}_share_batching_off']:.0%} of hello); server "
                f"CPU µs/req hello {points['hello'][c]['server_cpu_us_per_request']:,.0f}, on "
                f"{points['batching_on'][c]['server_cpu_us_per_request']:,.0f}"
            )
    if "startup" in results:
        runs = results["startup"]["raw"]["tabship"]
        ready = ", ".join(f"{r['ready_s']:.3f}" for r in runs)
        lines.append(f"start -> ready s: {ready}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="a gated version directory")
    parser.add_argument("--calls", type=int, default=3000, help="one row: calls per path")
    parser.add_argument("--reference-calls", type=int, default=200)
    parser.add_argument("--rows", type=int, default=1_000_000, help="batch rows")
    parser.add_argument("--repeat", type=int, default=3, help="batch: runs per measure")
    parser.add_argument("--duration", type=float, default=6.0, help="HTTP: seconds per point")
    parser.add_argument("--warmup", type=float, default=1.0, help="HTTP: warm-up per point")
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--skip", default="", help="comma-separated: one_row,batch,http,startup")
    parser.add_argument("--json", type=Path, default=RESULTS / "all.json")
    args = parser.parse_args(argv)
    model_dir = args.model.resolve()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    results: dict[str, Any] = {
        "model": str(model_dir),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_start": bench_server.load_average(),
    }
    print(f"model {model_dir}; load average {results['load_average_start']}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_all_") as tmp:
        workdir = Path(tmp)
        if "one_row" not in skip:
            print("1. one row in-process ...", flush=True)
            results["one_row"] = one_row(model_dir, args.calls, args.reference_calls)
        if "batch" not in skip:
            print(f"2. batch, {args.rows:,} rows ...", flush=True)
            results["batch"] = batch(model_dir, args.rows, args.repeat)
        if "http" not in skip:
            print("3. HTTP ...", flush=True)
            results["http"] = http(model_dir, args.duration, args.warmup, workdir)
        if "startup" not in skip:
            print("4. start-up and RSS ...", flush=True)
            results["startup"] = startup(model_dir, args.starts, workdir)
    results["load_average_end"] = bench_server.load_average()
    lines = report(results)
    lines.append(
        f"load average {results['load_average_start']} -> {results['load_average_end']}, "
        f"{results['cpus']} CPUs"
    )
    results["table"] = lines
    print()
    print("\n".join(lines))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
