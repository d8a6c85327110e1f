"""One-row scoring cost against its limits, in ONE run (issue 13). By hand only, never a test.

    .venv/bin/tabship train --registry /tmp/benchreg --variants full --search-iterations 2
    .venv/bin/python bench/bench_speed.py --model "$(ls -d /tmp/benchreg/shoppers-full/*/ | tail -1)"

Times, in turns (so a change in machine load hits every path alike), the single-row body of
docs/serving.md's curl example through:
  - tabship's path: InputSchema.rows_to_feeds + Model.score (POST /v1/predict minus HTTP);
  - Model.score on prebuilt feeds (the whole ONNX graph);
  - the trees alone: the same booster converted on its own (one float32 input of the encoded
    features, no preprocessing), fed the row the reference pipeline encodes: the graph's floor;
  - the reference pipeline's predict_proba on a one-row DataFrame (XGBoost at n_jobs=1, the
    steadier of its modes on a shared machine).
With --batch-rows N (default 1,000,000; 0 skips it): the training rows as stored (odd
spellings included) tiled to N rows in memory, scored by Model.score in runtime/batch/chunks.py's
chunks (feeds prebuilt: the graph's whole contract, no file reading) against XGBoost's own
`inplace_predict` on the ready float32 matrix the reference pipeline encodes (its threads as
trained).
Prints the ratios the issue sets targets for and the graph's node counts per op type.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tabship.training import evidence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ROW_JSON = (
    '{"Administrative": 3, "Administrative_Duration": 45.2, "Informational": 0, '
    '"Informational_Duration": 0, "ProductRelated": 22, "ProductRelated_Duration": 812.5, '
    '"BounceRates": 0.01, "ExitRates": 0.03, "PageValues": 12.4, "SpecialDay": 0, '
    '"Month": "Nov", "OperatingSystems": 2, "Browser": 2, "Region": 1, "TrafficType": 2, '
    '"VisitorType": "Returning_Visitor", "Weekend": false}'
)
TARGETS = {"tabship_us": 60.0, "reference_over_tabship": 350.0, "tabship_over_trees": 3.0}


def time_in_turns(
    calls: dict[str, Callable[[], Any]], n: int, blocks: int = 20
) -> dict[str, dict[str, float]]:
    for call in calls.values():
        for _ in range(max(5, n // 20)):
            call()
    clock = time.perf_counter_ns
    samples: dict[str, list[float]] = {name: [] for name in calls}
    per_block = max(1, -(-n // blocks))
    while any(len(s) < n for s in samples.values()):
        for name, call in calls.items():
            out = samples[name]
            for _ in range(min(per_block, n - len(out))):
                started = clock()
                call()
                out.append((clock() - started) / 1000.0)
    summary = {}
    for name, values in samples.items():
        values.sort()
        summary[name] = {
            "calls": len(values),
            "median_us": statistics.median(values),
            "p99_us": values[min(len(values) - 1, round(0.99 * (len(values) - 1)))],
        }
    return summary


def trees_only_bytes(pipeline: Any) -> bytes:
    """The pipeline's booster as its own ONNX graph: float32 [N, features] in, no contract."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    from tabship.export.convert import IR_VERSION, OPSETS
    from tabship.export.converters import register_all

    register_all()
    booster = pipeline.steps[-1][1]
    model = convert_sklearn(
        booster,
        initial_types=[("features", FloatTensorType([None, booster.n_features_in_]))],
        target_opset=dict(OPSETS),
        options={type(booster): {"zipmap": False}},
    )
    model.ir_version = IR_VERSION
    return bytes(model.SerializeToString())


def op_counts(model_bytes: bytes, branch: str | None = None) -> Counter[str]:
    """Nodes per op type of the main graph; with `branch` ("then_branch": the lookup fast
    path, "else_branch": the exact path) also those of each If's branch of that name."""
    import onnx

    counts: Counter[str] = Counter()
    for node in onnx.load_from_string(model_bytes).graph.node:
        counts[node.op_type] += 1
        for attribute in node.attribute:
            if attribute.name == branch:
                counts.update(n.op_type for n in attribute.g.node)
    return counts


def measure(model_dir: Path, calls: int, reference_calls: int, threads: int) -> dict[str, Any]:
    import numpy as np
    import onnxruntime as ort
    import pandas as pd

    from tabship.runtime.model.schema import InputSchema
    from tabship.runtime.model.session import OUTPUT_NAMES, Model, session_options
    from tabship.runtime.settings import Settings

    model = Model.load(
        Settings.from_env(environ={"TABSHIP_ORT_THREADS": str(threads)}, model_uri=str(model_dir))
    )
    schema = InputSchema(model.inputs)
    row = json.loads(ROW_JSON)
    feeds, _ = schema.rows_to_feeds([row])

    pipeline = evidence.read(model_dir).pipeline
    reference = copy.deepcopy(pipeline)
    reference.steps[-1][1].set_params(n_jobs=1)
    frame = pd.DataFrame([row])
    encoded = pipeline[:-1].transform(frame).astype(np.float32)
    trees_bytes = trees_only_bytes(pipeline)
    trees = ort.InferenceSession(
        trees_bytes, sess_options=session_options(threads), providers=["CPUExecutionProvider"]
    )
    trees_feeds = {"features": encoded}
    trees_outputs = [o.name for o in trees.get_outputs()]

    def tabship_path() -> Any:
        f, _ = schema.rows_to_feeds([row])
        return model.score(f)

    fast = time_in_turns(
        {
            "tabship_path": tabship_path,
            "model_score_prebuilt": lambda: model.score(feeds),
            "trees_only": lambda: trees.run(trees_outputs, trees_feeds),
        },
        calls,
    )
    slow = time_in_turns(
        {
            "reference_predict_proba": lambda: reference.predict_proba(frame),
            "tabship_path_beside_reference": tabship_path,
        },
        reference_calls,
        blocks=10,
    )
    p_tabship = float(tabship_path().probabilities[0, 1])
    p_trees = float(trees.run(trees_outputs, trees_feeds)[1][0, 1])
    p_reference = float(reference.predict_proba(frame)[0, 1])
    if abs(p_tabship - p_reference) > 1e-6 or abs(p_trees - p_reference) > 1e-6:
        print(
            f"WARNING: p tabship {p_tabship}, trees {p_trees}, reference {p_reference}",
            file=sys.stderr,
        )
    del OUTPUT_NAMES
    return {
        "model": str(model_dir),
        "threads": threads,
        "times": fast | slow,
        "graph_nodes": sum(op_counts(model.artifact.model_bytes).values()),
        "graph_ops": dict(op_counts(model.artifact.model_bytes).most_common()),
        "nodes_run_usual": sum(op_counts(model.artifact.model_bytes, "then_branch").values()),
        "nodes_run_exact": sum(op_counts(model.artifact.model_bytes, "else_branch").values()),
        "trees_nodes": sum(op_counts(trees_bytes).values()),
        "probability": {"tabship": p_tabship, "trees": p_trees, "reference": p_reference},
    }


def measure_batch(model_dir: Path, rows: int, threads: int) -> dict[str, Any]:
    import numpy as np

    from tabship.contract.values import category_text, number_value
    from tabship.runtime.batch.chunks import DEFAULT_CHUNK_ROWS
    from tabship.runtime.model.session import Model
    from tabship.runtime.settings import Settings

    model = Model.load(
        Settings.from_env(environ={"TABSHIP_ORT_THREADS": str(threads)}, model_uri=str(model_dir))
    )
    frame = evidence.read(model_dir).reference_data["train_frame"]
    pipeline = evidence.read(model_dir).pipeline
    reps = -(-rows // len(frame))
    feeds = {}
    for entry in model.inputs:
        column = frame[entry["name"]]
        if entry["kind"] == "numeric":
            values = np.array([number_value(v) for v in column], dtype=np.float64)
        else:
            values = np.array([category_text(v) for v in column], dtype=object)
        feeds[entry["name"]] = np.tile(values, reps)[:rows].reshape(-1, 1)
    matrix = np.tile(pipeline[:-1].transform(frame).astype(np.float32), (reps, 1))[:rows]
    booster = pipeline.steps[-1][1].get_booster()

    def tabship() -> None:
        for start in range(0, rows, DEFAULT_CHUNK_ROWS):
            model.score({k: v[start : start + DEFAULT_CHUNK_ROWS] for k, v in feeds.items()})

    timings: dict[str, float] = {"tabship_graph": math.inf, "xgboost_inplace_predict": math.inf}
    for _ in range(2):  # in turns, best of two
        started = time.perf_counter()
        tabship()
        timings["tabship_graph"] = min(timings["tabship_graph"], time.perf_counter() - started)
        started = time.perf_counter()
        booster.inplace_predict(matrix)
        timings["xgboost_inplace_predict"] = min(
            timings["xgboost_inplace_predict"], time.perf_counter() - started
        )
    return {"rows": rows, "rows_per_s": {k: rows / v for k, v in timings.items()}}


def print_table(result: dict[str, Any]) -> None:
    t = result["times"]
    tabship = t["tabship_path"]["median_us"]
    trees = t["trees_only"]["median_us"]
    reference = t["reference_predict_proba"]["median_us"]
    beside = t["tabship_path_beside_reference"]["median_us"]
    print(f"model {result['model']}  (onnxruntime intra-op threads {result['threads']})")
    print(
        f"graph: {result['graph_nodes']} nodes in the main graph; nodes run per call with the "
        f"usual spellings {result['nodes_run_usual']}, with any other spelling "
        f"{result['nodes_run_exact']}; main graph {result['graph_ops']}"
    )
    print("| path | median µs | p99 µs | calls |")
    print("|---|---:|---:|---:|")
    for name, value in t.items():
        print(f"| {name} | {value['median_us']:,.1f} | {value['p99_us']:,.1f} | {value['calls']} |")
    rows = [
        ("one row, tabship path (µs)", tabship, f"<= {TARGETS['tabship_us']:g}", tabship <= 60),
        (
            "reference / tabship (same rounds)",
            reference / beside,
            f">= {TARGETS['reference_over_tabship']:g}x",
            reference / beside >= TARGETS["reference_over_tabship"],
        ),
        (
            "tabship / trees-only graph",
            tabship / trees,
            f"<= {TARGETS['tabship_over_trees']:g}x",
            tabship / trees <= TARGETS["tabship_over_trees"],
        ),
    ]
    if "batch" in result:
        speed = result["batch"]["rows_per_s"]
        ratio = speed["tabship_graph"] / speed["xgboost_inplace_predict"]
        rows.append(
            (
                f"batch {result['batch']['rows']:,} rows in memory: tabship / XGBoost",
                ratio,
                ">= 0.6x",
                ratio >= 0.6,
            )
        )
        print(
            f"\nbatch: tabship graph {speed['tabship_graph']:,.0f} rows/s, XGBoost "
            f"inplace_predict {speed['xgboost_inplace_predict']:,.0f} rows/s"
        )
    print("\n| ratio | this run | target | met |")
    print("|---|---:|---:|---|")
    for name, value, target, met in rows:
        print(f"| {name} | {value:,.2f} | {target} | {'yes' if met else 'NO'} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="a gated version directory")
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--reference-calls", type=int, default=200)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="onnxruntime intra-op threads (scoring accepts 1 only)",
    )
    parser.add_argument("--batch-rows", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    result = measure(args.model, args.calls, args.reference_calls, args.threads)
    if args.batch_rows > 0:
        result["batch"] = measure_batch(args.model, args.batch_rows, args.threads)
    print_table(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
