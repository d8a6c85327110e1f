"""`tabship serve --workers N` (issue 29): req/s and p99 of POST /v1/predict at concurrency 64,
for 1 and 2 workers (and the plain one-process server as the baseline), measured in ONE run on
one machine, interleaved. By hand only.

    sudo apt-get install -y wrk
    .venv/bin/tabship train --registry /tmp/benchreg --variants full --search-iterations 2
    .venv/bin/python bench/bench_workers.py --model "$(ls -d /tmp/benchreg/shoppers-full/*/ | tail -1)"

Each server is started once (bench_server.Server), then for each of --rounds rounds every
server gets a short warm-up and --duration seconds of wrk (1 thread, keep-alive, the
single-row body of docs/serving.md), in turn, so that the machine's background load falls on
all of them alike. Reports each round and the median of the rounds, and the ratios
`workers 2 / workers 1` and `workers 1 / one process` (what the supervisor costs). wrk shares
the CPUs with the servers: on a 2-CPU machine, 2 workers and the load tool compete for 2 cores.
Writes bench/results/workers.json (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_server import (
    RESULTS,
    ROW_JSON,
    Load,
    Server,
    fail,
    load_average,
    pick_tool,
    post,
    tabship_command,
)

# the supervisor says at info level when every worker is ready
INFO = {"TABSHIP_LOG_LEVEL": "info"}


def servers(model: Path, workdir: Path) -> dict[str, Server]:
    command = [*tabship_command(), "--model", str(model)]
    return {
        "one process": Server("tabship serve", command, {}, workdir / "single.log"),
        "workers 1": Server(
            "tabship serve --workers 1", [*command, "--workers", "1"], INFO, workdir / "w1.log"
        ),
        "workers 2": Server(
            "tabship serve --workers 2", [*command, "--workers", "2"], INFO, workdir / "w2.log"
        ),
    }


def measure(
    model: Path, concurrency: int, seconds: float, warmup_s: float, rounds: int, tool: str
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as folder:
        workdir = Path(folder)
        load = Load(tool, ROW_JSON, workdir)
        running = servers(model, workdir)
        points: dict[str, list[dict[str, Any]]] = {name: [] for name in running}
        try:
            for name, server in running.items():
                # every worker must have started: the supervisor's log says when
                if name.startswith("workers"):
                    wanted = f"all {name.split()[1]} workers ready"
                    for _ in range(600):
                        if wanted in server.log.read_text():
                            break
                        time.sleep(0.1)
                    else:
                        fail(f"{server.name}: not every worker ready; log {server.log}")
                status, body = post(server.port, ROW_JSON.encode())
                if status != 200 or b'"probability"' not in body:
                    fail(f"{server.name}: POST /v1/predict answered {status}: {body[:300]!r}")
            for _ in range(rounds):
                for name, server in running.items():
                    if warmup_s > 0:
                        load.run(server.port, concurrency, warmup_s)
                    result = load.run(server.port, concurrency, seconds)
                    if result["errors"]:
                        fail(f"{server.name}: {result['errors']} failed requests: {result}")
                    points[name].append(result)
        finally:
            for server in running.values():
                server.stop()
    medians = {
        name: {key: statistics.median(p[key] for p in runs) for key in ("rps", "p50_ms", "p99_ms")}
        for name, runs in points.items()
    }
    return {
        "concurrency": concurrency,
        "seconds": seconds,
        "rounds": rounds,
        "cpus": len(os.sched_getaffinity(0)),
        "load_average": load_average(),
        "points": points,
        "medians": medians,
        "ratio_2_over_1": medians["workers 2"]["rps"] / medians["workers 1"]["rps"],
        "ratio_1_over_single": medians["workers 1"]["rps"] / medians["one process"]["rps"],
    }


def table(results: dict[str, Any]) -> list[str]:
    lines = [
        f"POST /v1/predict, one row, c={results['concurrency']}, {results['rounds']} rounds of "
        f"{results['seconds']:g} s, {results['cpus']} CPUs, load average before "
        f"{results['load_average']}",
        "",
        "| server | req/s (median) | p50 ms | p99 ms | req/s per round |",
        "|---|---:|---:|---:|---|",
    ]
    for name, median in results["medians"].items():
        rounds = ", ".join(f"{p['rps']:,.0f}" for p in results["points"][name])
        lines.append(
            f"| {name} | {median['rps']:,.0f} | {median['p50_ms']:.1f} | "
            f"{median['p99_ms']:.1f} | {rounds} |"
        )
    lines += [
        "",
        f"workers 2 / workers 1: {results['ratio_2_over_1']:.2f}x req/s; "
        f"workers 1 / one process: {results['ratio_1_over_single']:.2f}x",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="a version directory")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per point")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before each point")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tool", default="auto", choices=["auto", "wrk", "hey"])
    args = parser.parse_args(argv)
    tool = pick_tool(args.tool)
    results = measure(args.model, args.concurrency, args.duration, args.warmup, args.rounds, tool)
    print("\n".join(table(results)))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "workers.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
