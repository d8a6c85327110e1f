"""The loader's ONNX reading: protobuf's generated classes (runtime/model/onnx_wire.py today) against
the hand-written wire reader it replaced, read from git, on the same model file, in turns.

    .venv/bin/python bench/bench_onnx_read.py MODEL.onnx [--baseline 72fc964]

Prints the best-of-rounds time per read_facts call for each (and for protobuf's parse alone)
and their ratio; both must find the same facts. Run by hand on an idle machine, never from the test suite.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tabship.runtime.model import onnx_wire  # noqa: E402


def _hand_reader(commit: str) -> types.ModuleType:
    source = subprocess.run(
        ["git", "show", f"{commit}:runtime/model/onnx_wire.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType("hand_onnx_wire")
    module.__dict__["__name__"] = "hand_onnx_wire"
    sys.modules["hand_onnx_wire"] = module  # dataclasses look their module up
    exec(compile(source, f"{commit}:runtime/model/onnx_wire.py", "exec"), module.__dict__)
    return module


def _best_ms(read: Any, data: bytes, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        read(data)
    return (time.perf_counter() - started) / calls * 1e3


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", type=Path)
    parser.add_argument("--baseline", default="72fc964", help="a commit with the hand reader")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=100)
    args = parser.parse_args()
    data = args.model.read_bytes()
    hand = _hand_reader(args.baseline)
    same = dataclasses.asdict(hand.read_facts(data)) == dataclasses.asdict(
        onnx_wire.read_facts(data)
    )
    times: dict[str, list[float]] = {"hand": [], "protobuf": [], "parse only": []}
    for _ in range(args.rounds):
        times["hand"].append(_best_ms(hand.read_facts, data, args.calls))
        times["protobuf"].append(_best_ms(onnx_wire.read_facts, data, args.calls))
        times["parse only"].append(_best_ms(onnx_wire.parse_model, data, args.calls))
    best = {name: min(values) for name, values in times.items()}
    print(f"{args.model} ({len(data)} bytes), same facts: {same}")
    for name, value in best.items():
        print(f"  {name:10s} {value:.3f} ms per call (best of {args.rounds} x {args.calls})")
    print(f"  hand / protobuf = {best['hand'] / best['protobuf']:.1f}x")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
