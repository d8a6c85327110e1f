"""Where a one-row call's time goes inside the graph: onnxruntime's own profiler. By hand only.

    .venv/bin/python bench/graph_profile.py --model MODEL_DIR [--calls 2000] [--top 25]

Runs the single-row feeds of bench/bench_speed.py (repeated --rows times) --calls times with profiling on (the
server's session options otherwise), then prints per op type and per node the kernel time per
call (µs) and the share of all kernel time, plus the whole `model_run` time per call: the gap
between the two is onnxruntime's per-node dispatch and allocation around the kernels.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def profile(model_dir: Path, calls: int, threads: int, rows: int = 1) -> dict[str, Any]:
    import numpy as np
    import onnxruntime as ort

    from bench.bench_speed import ROW_JSON
    from tabship.runtime.model.schema import InputSchema
    from tabship.runtime.model.session import OUTPUT_NAMES, Model, session_options
    from tabship.runtime.settings import Settings

    model = Model.load(Settings.from_env(environ={}, model_uri=str(model_dir)))
    feeds, _ = InputSchema(model.inputs).rows_to_feeds([json.loads(ROW_JSON)])
    feeds = {name: np.repeat(value, rows, axis=0) for name, value in feeds.items()}
    options = session_options(threads)
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as folder:
        options.profile_file_prefix = os.path.join(folder, "graph")
        session = ort.InferenceSession(
            model.artifact.model_bytes, sess_options=options, providers=["CPUExecutionProvider"]
        )
        for _ in range(calls):
            session.run(OUTPUT_NAMES, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    per_node: dict[tuple[str, str], float] = defaultdict(float)
    run_us = 0.0
    runs = 0
    for event in events:
        if event.get("cat") == "Session" and event.get("name") == "model_run":
            run_us += event["dur"]
            runs += 1
        elif event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            op = event.get("args", {}).get("op_name", "?")
            per_node[(op, event["name"].removesuffix("_kernel_time"))] += event["dur"]
    runs = max(runs, 1)
    per_op: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for (op, _), us in per_node.items():
        per_op[op][0] += us
        per_op[op][1] += 1
    kernel_total = sum(per_node.values())
    return {
        "calls": runs,
        "rows": rows,
        "model_run_us": run_us / runs,
        "kernel_us": kernel_total / runs,
        "per_op": {op: {"us": us / runs, "nodes": n} for op, (us, n) in per_op.items()},
        "per_node": {f"{op} {name}": us / runs for (op, name), us in per_node.items()},
    }


def print_profile(result: dict[str, Any], top: int) -> None:
    kernel = result["kernel_us"] or 1.0
    print(
        f"{result['calls']} runs of {result['rows']} row(s): model_run {result['model_run_us']:.1f} µs per call, "
        f"kernels {result['kernel_us']:.1f} µs (an If's time includes the nodes of the branch "
        "it ran, which are listed too; profiling itself adds µs per node)"
    )
    print("\n| op type | nodes | kernel µs/call | share |")
    print("|---|---:|---:|---:|")
    for op, value in sorted(result["per_op"].items(), key=lambda kv: -kv[1]["us"]):
        print(f"| {op} | {value['nodes']} | {value['us']:.2f} | {value['us'] / kernel:.0%} |")
    print(f"\n| top {top} nodes | kernel µs/call |")
    print("|---|---:|")
    for name, us in sorted(result["per_node"].items(), key=lambda kv: -kv[1])[:top]:
        print(f"| {name} | {us:.2f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--rows", type=int, default=1, help="the row repeated: a batch's profile")
    args = parser.parse_args(argv)
    print_profile(profile(args.model, args.calls, args.threads, args.rows), args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
