"""`tabship score`: score a CSV / Parquet file (or a directory of Parquet files) in bounded
memory, locally or on Dask. See docs/batch.md."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tabship.contract.errors import ModelRefused
from tabship.runtime.batch.chunks import DEFAULT_CHUNK_ROWS, DEFAULT_WORKERS, FORMATS, BatchError
from tabship.runtime.batch.contributions import ExplainError
from tabship.runtime.batch.outputs import OutputRefused, check_places
from tabship.runtime.settings import SCORING_THREADS, THREADS_REFUSED, Settings, SettingsError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="CSV file, Parquet file or directory of Parquet files")
    parser.add_argument(
        "output", help="output file (.parquet or .csv); a directory for --engine dask"
    )
    parser.add_argument(
        "--model",
        help="MODEL_URI: version directory, .onnx file or http(s) URL "
        "(default: $MODEL_URI); verified as the server does",
    )
    parser.add_argument(
        "--keys", default="", help="comma-separated input columns copied to the output"
    )
    parser.add_argument("--rejects", help="where rows that fail validation go (.parquet or .csv)")
    parser.add_argument(
        "--chunk-rows",
        type=int,
        default=DEFAULT_CHUNK_ROWS,
        help=f"rows per chunk (default {DEFAULT_CHUNK_ROWS})",
    )
    parser.add_argument(
        "--format", choices=FORMATS, help="output format (default: from the suffix)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument(
        "--allow-absent-columns",
        action="store_true",
        help="feed model inputs absent from the file as missing (nullable ones)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help=f"local engine: chunks scored in parallel (default {DEFAULT_WORKERS})",
    )
    parser.add_argument(
        "--ort-threads",
        type=int,
        default=1,
        help="onnxruntime intra-op threads per session: 1 only (a row's bits must not depend "
        "on its chunk; parallelism comes from --workers)",
    )
    parser.add_argument("--engine", choices=("local", "dask"), default="local")
    parser.add_argument("--scheduler", help="dask: scheduler address (default: a local cluster)")
    parser.add_argument(
        "--partitions", type=int, help="dask: repartition the input into N partitions"
    )
    parser.add_argument(
        "--dask-workers",
        type=int,
        default=2,
        help="dask without --scheduler: worker processes of the local cluster",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="add each row's contributions (margin scale): contribution_<column> and "
        "contribution_bias (multiclass: contribution_<class>_<column>); local engine",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress, no summary")


def _fail(message: str) -> int:
    print(f"tabship score: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    keys = tuple(k.strip() for k in args.keys.split(",") if k.strip())
    try:
        settings = Settings.from_env(model_uri=args.model)
    except SettingsError as error:
        return _fail(str(error))
    if not settings.model_uri:
        return _fail("no model: pass --model or set MODEL_URI")
    if args.chunk_rows < 1 or args.workers < 1:
        return _fail("--chunk-rows and --workers must be >= 1")
    if args.ort_threads != SCORING_THREADS:
        return _fail(f"--ort-threads {args.ort_threads}: {THREADS_REFUSED}")
    if args.explain and args.engine == "dask":
        return _fail("--explain runs on the local engine only (drop --engine dask)")
    try:
        # before any model is loaded or anything is written: the cheap, decisive check
        check_places(args.input, args.output, args.rejects)
        if args.engine == "dask":
            from tabship.runtime.batch.dask_engine import score_dask

            summary = score_dask(
                settings,
                args.input,
                args.output,
                rejects=args.rejects,
                keys=keys,
                scheduler=args.scheduler,
                partitions=args.partitions,
                n_workers=args.dask_workers,
                overwrite=args.overwrite,
                allow_absent=args.allow_absent_columns,
                ort_threads=args.ort_threads,
                progress=not args.quiet,
            )
        else:
            summary = _score_local(args, settings, keys)
    except ModelRefused as error:
        return _fail(f"model refused: {error}")
    except (BatchError, ExplainError, OutputRefused) as error:
        return _fail(str(error))
    except KeyboardInterrupt:
        return _fail("interrupted; no output written")
    if not args.quiet:
        print(f"tabship score: {summary.line()}", file=sys.stderr)
        for name, count in sorted(summary.unseen.items()):
            print(f"  {name}: {count} row(s) with a category unseen in training", file=sys.stderr)
        for name in summary.absent_columns:
            print(f"  {name}: not in the input, fed as missing", file=sys.stderr)
    return 0


def _score_local(args: argparse.Namespace, settings: Settings, keys: tuple[str, ...]):  # type: ignore[no-untyped-def]
    from tabship.runtime.batch.chunks import score_file
    from tabship.runtime.batch.contributions import contribution_names
    from tabship.runtime.model.artifact import load_artifact
    from tabship.runtime.model.session import Model

    input_path, output_path = Path(args.input), Path(args.output)
    if not input_path.exists():  # before loading the model: the cheap check first
        raise BatchError(f"{input_path}: no such file or directory")
    if output_path.exists() and not args.overwrite:
        raise BatchError(f"{output_path}: already exists (use --overwrite to replace it)")
    model = Model(load_artifact(settings), threads=args.ort_threads)
    if args.explain:
        contribution_names(model)  # refuses a version without explainer, before any work
    return score_file(
        model,
        input_path,
        output_path,
        rejects_path=Path(args.rejects) if args.rejects else None,
        keys=keys,
        chunk_rows=args.chunk_rows,
        workers=args.workers,
        output_fmt=args.format,
        overwrite=args.overwrite,
        allow_absent=args.allow_absent_columns,
        progress=not args.quiet and os.environ.get("TERM") != "dumb",
        explain=args.explain,
    )
