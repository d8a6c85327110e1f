"""`tabship score --engine dask`: rows/s with 1 and with 2 worker processes on the same input.

    .venv/bin/python bench/bench_dask.py --model models/shoppers-full/<version> --rows 1000000

Each run starts a LocalCluster (processes, TCP on 127.0.0.1, 1 thread per worker), scores the
same Parquet input (bench/bench_batch.py builds it) into partitioned Parquet, and is timed end to
end from the client (cluster start excluded; row counting pass, model load on the workers,
scoring and writing included). Writes bench/results/dask.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_batch import RESULTS, make_input, make_model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--partitions", type=int, help="repartition (default: one per row group)")
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    from distributed import LocalCluster

    from tabship.runtime.batch.dask_engine import score_dask
    from tabship.runtime.settings import Settings

    RESULTS.mkdir(parents=True, exist_ok=True)
    model_dir = args.model or make_model(RESULTS / "registry")
    data = make_input(RESULTS / f"batch_input_{args.rows}.parquet", args.rows)
    settings = Settings(model_uri=str(model_dir))
    runs = []
    for n in map(int, args.workers.split(",")):
        with (
            LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                protocol="tcp",
                dashboard_address=None,
            ) as cluster,
            tempfile.TemporaryDirectory() as scratch,
        ):
            started = time.perf_counter()
            summary = score_dask(
                settings,
                str(data),
                f"{scratch}/scored",
                keys=("session_id",),
                scheduler=cluster.scheduler_address,
                partitions=args.partitions,
                progress=False,
            )
            seconds = time.perf_counter() - started
        runs.append(
            {
                "workers": n,
                "rows": summary.rows,
                "seconds": seconds,
                "rows_per_s": summary.rows / seconds,
            }
        )
        print(
            f"{n} worker(s): {summary.rows:,} rows in {seconds:.1f} s = "
            f"{summary.rows / seconds:,.0f} rows/s",
            flush=True,
        )
    if len(runs) > 1:
        print(
            f"speed-up {runs[-1]['workers']} vs {runs[0]['workers']} worker(s): "
            f"{runs[-1]['rows_per_s'] / runs[0]['rows_per_s']:.2f}x ({os.cpu_count()} CPUs)"
        )
    (RESULTS / "dask.json").write_text(
        json.dumps(
            {
                "rows": args.rows,
                "partitions": args.partitions,
                "cpus": os.cpu_count(),
                "model": str(model_dir),
                "runs": runs,
            },
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
