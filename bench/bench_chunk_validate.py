"""Batch validation cost of one bad row: `ChunkValidator.validate` on a 100k-row chunk with 0 bad
rows and with 1 bad row (bad in a float, a numeric-text and a categorical column).

Before issue 11 item 3 a chunk with a bad row was validated twice (once to find the bad rows,
once more on the good ones); the ratio `1 bad row / 0 bad rows` shows that cost. Median and min
of `--repeat` runs, interleaved in one process: only the ratio is meaningful (min is the steadier
one on a busy machine).

    .venv/bin/python bench/bench_chunk_validate.py [--rows 100000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
import pyarrow as pa

from tabship.runtime.batch.rejects import ChunkValidator

CATEGORIES = [f"category_{i:02d}" for i in range(20)]


def manifest_inputs() -> list[dict[str, Any]]:
    numeric = [{"name": f"x{i}", "kind": "numeric", "nullable": True} for i in range(5)]
    counts = [{"name": "count", "kind": "numeric", "nullable": False}]
    text = [{"name": "amount_text", "kind": "numeric", "nullable": True}]
    categorical = [
        {"name": f"c{i}", "kind": "categorical", "nullable": True, "categories": CATEGORIES}
        for i in range(4)
    ]
    return numeric + counts + text + categorical


def chunk(n: int, bad: bool) -> pa.Table:
    rng = np.random.default_rng(0)
    columns: dict[str, Any] = {f"x{i}": rng.normal(size=n) for i in range(5)}
    columns["count"] = rng.integers(0, 100, size=n)
    amounts = [f"{v:.2f}" for v in rng.uniform(0, 1000, size=n)]
    labels = np.asarray([*CATEGORIES, "unseen"], dtype=object)
    cats = {f"c{i}": labels[rng.integers(0, len(labels), size=n)].tolist() for i in range(4)}
    if bad:
        columns["x0"][n // 2] = np.inf
        amounts[n // 2] = "not a number"
        cats["c0"][n // 2] = "x" * 300  # over the 256-character limit
    columns["amount_text"] = amounts
    columns.update(cats)
    return pa.table(columns)


def seconds(validator: ChunkValidator, table: pa.Table, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        validator.validate(table)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    validator = ChunkValidator(manifest_inputs())
    clean, dirty = chunk(args.rows, bad=False), chunk(args.rows, bad=True)
    assert validator.validate(dirty).n_good == args.rows - 1
    clean_s: list[float] = []
    dirty_s: list[float] = []
    for _ in range(args.repeat):  # interleaved, so a busy moment hits both alike
        clean_s += seconds(validator, clean, 1)
        dirty_s += seconds(validator, dirty, 1)
    print(f"rows={args.rows} repeat={args.repeat}")
    for stat in (statistics.median, min):
        c, d = stat(clean_s), stat(dirty_s)
        print(
            f"{stat.__name__:>6}: 0 bad rows {c * 1000:.1f} ms, 1 bad row {d * 1000:.1f} ms"
            f" (ratio {d / c:.2f})"
        )


if __name__ == "__main__":
    main()
