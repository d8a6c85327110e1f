"""Gate cost against table width: trains the generated wide table (tests/wide_table.py) at
several widths with one search candidate, and prints each gate set's build and total seconds
from the gate's own report. By hand: `.venv/bin/python bench/bench_gate.py [--rows 3000]`.

The issue's bar is a cost linear in columns: compare `per column` across widths."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from wide_table import wide_table

from tabship.cli.main import main


def one_width(columns: int, rows: int, scratch: Path) -> dict[str, object]:
    numeric = columns * 2 // 3
    frame, toml = wide_table(rows, numeric=numeric, categorical=columns - numeric)
    frame.to_parquet(scratch / "wide.parquet")
    (scratch / "wide.toml").write_text(toml)
    started = time.perf_counter()
    code = main(
        [
            "train",
            *("--data", str(scratch / "wide.parquet"), "--declaration", str(scratch / "wide.toml")),
            *("--search-iterations", "1", "--registry", str(scratch / "registry")),
        ]
    )
    (version,) = (scratch / "registry" / "wide-full").iterdir()
    report = json.loads((version / "parity_report.json").read_text())
    return {
        "columns": columns,
        "exit": code,
        "train_and_gate_s": time.perf_counter() - started,
        "sets": {s["name"]: s for s in report["sets"]},
        "seconds": report["seconds"],
        "boundary": report["boundary_thresholds"],
    }


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--widths", default="30,150,300")
    args = parser.parse_args()
    results = []
    for width in (int(w) for w in args.widths.split(",")):
        with tempfile.TemporaryDirectory() as scratch:
            results.append(one_width(width, args.rows, Path(scratch)))
    names = ["test", "train", "boundary", "hostile", "generated"]
    print(
        f"\n{'columns':>8}{'exit':>5}"
        + "".join(f"{n:>11}" for n in names)
        + f"{'gate':>9}{'per column':>12}"
    )
    for r in results:
        seconds = r["seconds"]
        gate = sum(seconds[n]["total"] for n in names)
        cells = "".join(f"{seconds[n]['total']:>10.2f}s" for n in names)
        print(
            f"{r['columns']:>8}{r['exit']:>5}{cells}{gate:>8.1f}s{gate / r['columns'] * 1000:>10.1f}ms"
        )
    for r in results:
        rows = {n: r["sets"][n]["rows"] for n in names}
        print(f"{r['columns']} columns: rows per set {rows}; boundary thresholds {r['boundary']}")


if __name__ == "__main__":
    main_bench()
