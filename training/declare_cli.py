"""`tabship declare DATA`: print a commented declaration inferred from a table."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tabship.training.source_args import add_source_arguments

    parser.add_argument("source", metavar="DATA", help="SQLite/CSV/Parquet file to read")
    add_source_arguments(parser, data_help=argparse.SUPPRESS)
    parser.add_argument(
        "--target", help="the target column (default: the last column, if it has two values)"
    )
    parser.add_argument(
        "--positive", help="the target value that is positive (needed unless 1/0, yes/no ...)"
    )
    parser.add_argument("--name", help="dataset.name (default: from the file name)")
    parser.add_argument(
        "-o", "--output", help="write here instead of standard output (never overwrites)"
    )


def run(args: argparse.Namespace) -> int:
    from tabship.training.data_sources import DataSourceError
    from tabship.training.declaration import DeclarationError
    from tabship.training.infer import (
        InferenceError,
        check_dataset_name,
        dataset_name,
        infer_declaration,
    )
    from tabship.training.source_args import read_source

    args.data = args.source
    try:
        read = read_source(args, default_table=None)
        name = args.name or dataset_name(Path(args.source).stem)
        check_dataset_name(name)
        text = infer_declaration(
            read.frame,
            source=read.description,
            name=name,
            target=args.target,
            positive=args.positive,
            default_table=read.table,
        )
    except (DataSourceError, DeclarationError, InferenceError) as error:
        print(f"tabship declare: {error}", file=sys.stderr)
        return 2
    if args.output is None:
        sys.stdout.write(text)
        return 0
    return _write_new(Path(args.output), text)


def _write_new(path: Path, text: str) -> int:
    """Written whole under a temporary name, then linked to `path`: a reader never sees half a
    file, and an existing file is never replaced (link fails if the name exists)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.link(temporary, path)
    except FileExistsError:
        print(f"tabship declare: {path} exists; not overwritten", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"tabship declare: cannot write {path}: {error.strerror}", file=sys.stderr)
        return 2
    finally:
        temporary.unlink(missing_ok=True)
    print(f"tabship declare: wrote {path}", file=sys.stderr)
    return 0
