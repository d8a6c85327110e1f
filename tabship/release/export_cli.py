"""`tabship export`: a new version from a released version's directory (tabship.export.cli),
or from a user's own fitted pipeline: `--pipeline FILE.joblib --data TRAIN --target COL`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tabship.export import cli as version_export
from tabship.training import evidence


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tabship.training.source_args import add_source_arguments

    parser.add_argument(
        "source",
        nargs="?",
        help="a version directory holding reference.joblib and training.json (as written by "
        "`tabship train`); or give --pipeline instead",
    )
    parser.add_argument(
        "--pipeline",
        help="a fitted scikit-learn Pipeline ending in an XGBClassifier, saved with joblib",
    )
    add_source_arguments(
        parser, data_help="with --pipeline: the training rows (CSV/Parquet/SQLite)"
    )
    parser.add_argument("--target", help="with --pipeline: the target column of --data")
    parser.add_argument(
        "--test", help="with --pipeline: the test rows (default: a held-out 20%% of --data)"
    )
    parser.add_argument("--name", help="model name (default: the source's, or the file's stem)")
    parser.add_argument(
        "--registry",
        help="registry root: a folder or s3://bucket/prefix (default: $TABSHIP_REGISTRY or ./models)",
    )
    parser.add_argument("--positive", help="with --pipeline: the binary target's positive value")
    parser.add_argument(
        "--threshold-rule",
        help="with --pipeline: max_f1 or min_precision:P, chosen on the test rows "
        "(default: 0.5, the pipeline's predict)",
    )
    parser.add_argument("--sign-key", help="with --pipeline: sign the version if it passes")
    evidence.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.pipeline is None:
        if args.source is None:
            print("tabship export: give a version directory or --pipeline FILE", file=sys.stderr)
            return 2
        return version_export.run(args)
    if args.source is not None:
        print("tabship export: give a version directory or --pipeline, not both", file=sys.stderr)
        return 2
    missing = [
        flag for flag, value in (("--data", args.data), ("--target", args.target)) if not value
    ]
    if missing:
        print(f"tabship export: --pipeline needs {' and '.join(missing)}", file=sys.stderr)
        return 2
    return _own(args)


def _read(args: argparse.Namespace, data: str) -> Any:
    from tabship.training.source_args import read_source

    return read_source(argparse.Namespace(**{**vars(args), "data": data}), default_table=None)


def _split(frame: Any, target: str, where: str) -> tuple[Any, Any]:
    from tabship.training.own.contract import ContractError

    if target not in frame.columns:
        raise ContractError(f"{where} has no target column {target!r}")
    rows = frame[frame[target].notna()].reset_index(drop=True)
    return rows.drop(columns=[target]), rows[target]


def _own(args: argparse.Namespace) -> int:
    from tabship.contract.errors import ModelRefused
    from tabship.export.registry import RegistryError
    from tabship.export.standard.refusal import StepRefused
    from tabship.release.own import release
    from tabship.training.data_sources import DataSourceError
    from tabship.training.own.contract import ContractError
    from tabship.training.pickles import load_joblib

    path = Path(args.pipeline)
    if not path.is_file():
        print(f"tabship export: --pipeline {path}: no such file", file=sys.stderr)
        return 2
    try:
        pipeline = load_joblib(path)
    except Exception as error:  # any unpickling failure is the file's problem
        print(f"tabship export: --pipeline {path}: cannot load ({error!r})", file=sys.stderr)
        return 2
    try:
        train = _read(args, args.data)
        x_train, y_train = _split(train.frame, args.target, train.description)
        test = None
        if args.test:
            read = _read(args, args.test)
            test = _split(read.frame, args.target, read.description)
        done = release(
            pipeline,
            train=(x_train, y_train),
            test=test,
            name=args.name or path.stem,
            registry=args.registry,
            evidence=args.evidence,
            threshold_rule=args.threshold_rule,
            sign_key=args.sign_key,
            positive=args.positive,
            source=train.description,
        )
    except StepRefused as error:
        print(f"tabship export: not converted: {error}", file=sys.stderr)
        return 2
    except (ContractError, DataSourceError, RegistryError, ModelRefused, ValueError) as error:
        print(f"tabship export: {error}", file=sys.stderr)
        return 2
    print(done)
    for note in done.notes:
        print(note)
    if not done.passed:
        print(
            f"tabship export: parity gate FAILED for {done.folder}; not released", file=sys.stderr
        )
        return 1
    return 0
