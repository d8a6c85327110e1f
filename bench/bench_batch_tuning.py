"""Where runtime/batch/chunks.py's defaults come from (issue 13 item 2): chunk rows x parallel chunks,
per input format, and one shared onnxruntime session against one session per worker thread.

    .venv/bin/python bench/bench_batch_tuning.py --model MODEL_DIR [--rows 200000] [--repeat 3]

Uses bench/bench_batch.py's inputs (the same dirty rows as Parquet and as CSV text). Every
setting is timed --repeat times in turns (a change in the machine's load hits them alike) and
reported as its median; by hand only, never a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_batch import RESULTS, load_model, make_input, score_file_run, write_csv


def sessions(model_dir: Path, data: Path, chunk: int, workers: int, repeat: int) -> None:
    """Model.score on validated chunks from `workers` threads: one session or one per thread."""
    import pyarrow.parquet as pq

    from tabship.runtime.batch.rejects import ChunkValidator

    models = [load_model(model_dir) for _ in range(workers)]
    validator = ChunkValidator(models[0].inputs)
    batches = pq.read_table(data).to_batches(max_chunksize=chunk)
    feeds = [validator.validate(batch).feeds for batch in batches]
    rows = sum(batch.num_rows for batch in batches)

    def run(per_thread: bool) -> float:
        def one(i: int) -> Any:
            return models[i % workers if per_thread else 0].score(feeds[i])

        started = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, range(len(feeds))))
        return time.perf_counter() - started

    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(repeat):
        for per_thread in times:
            times[per_thread].append(run(per_thread))
    for per_thread, seconds in times.items():
        what = f"{workers} sessions (one per thread)" if per_thread else "1 shared session"
        rate = rows / statistics.median(seconds)
        print(f"graph only, chunk {chunk}, {workers} threads, {what}: {rate:,.0f} rows/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--chunks", default="8192,16384,32768,65536,131072")
    parser.add_argument("--workers", default="1,2,3,4")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    parquet = make_input(RESULTS / f"batch_input_{args.rows}.parquet", args.rows)
    inputs = {
        "parquet": parquet,
        "csv": write_csv(parquet, RESULTS / f"batch_input_{args.rows}.csv"),
    }
    model = load_model(args.model)
    grid = [
        (fmt, int(c), int(w))
        for fmt in inputs
        for c in args.chunks.split(",")
        for w in args.workers.split(",")
    ]
    times: dict[tuple[str, int, int], list[float]] = {key: [] for key in grid}
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "scored.parquet"
        for _ in range(args.repeat):
            for fmt, chunk, workers in grid:
                times[fmt, chunk, workers].append(
                    score_file_run(model, inputs[fmt], out, chunk, workers)
                )
    print(f"score_file, {args.rows:,} rows, median of {args.repeat} (rows/s)")
    workers_list = [int(w) for w in args.workers.split(",")]
    print("| format | chunk rows | " + " | ".join(f"{w} workers" for w in workers_list) + " |")
    print("|---|---:|" + "---:|" * len(workers_list))
    for fmt in inputs:
        for chunk in map(int, args.chunks.split(",")):
            rates = [args.rows / statistics.median(times[fmt, chunk, w]) for w in workers_list]
            print(f"| {fmt} | {chunk} | " + " | ".join(f"{r:,.0f}" for r in rates) + " |")
    sessions(args.model, parquet, 16384, 2, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
