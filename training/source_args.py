"""The data-source options `tabship train` and `tabship declare` share, and reading them."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import pandas as pd

from tabship.training.data_sources import (
    SQLITE_SUFFIXES,
    CsvFormat,
    describe_source,
    load_table,
    resolve_source,
)


def add_source_arguments(parser: argparse.ArgumentParser, *, data_help: str) -> None:
    parser.add_argument("--data", help=data_help)
    parser.add_argument("--table", help="SQLite table (default: the declaration's default_table)")
    parser.add_argument("--query", help="SQLite query instead of a table")
    parser.add_argument(
        "--csv-delimiter", default=",", help="CSV field separator (default ','; e.g. ';')"
    )
    parser.add_argument(
        "--labels",
        help="with a capture folder as --data: a CSV/Parquet table of request_id (the "
        "X-Request-Id), optionally row, and the target, joined to the captured rows",
    )
    parser.add_argument(
        "--decimal",
        default=".",
        help="decimal mark of numbers in a CSV file: '.' (default) or ','",
    )


@dataclass(frozen=True)
class ReadSource:
    frame: pd.DataFrame
    description: str
    table: str | None


def read_source(
    args: argparse.Namespace, *, default_table: str | None, builtin: bool = True
) -> ReadSource:
    """The table the options name; without --data (and $TABSHIP_DATA), the built-in data set."""
    from tabship.training.default_data import DEFAULT_TABLE, ensure_default_database

    source = resolve_source(args.data)
    table, query = args.table, args.query
    if source is None:
        if not builtin:
            raise ValueError("no data source")
        source = str(ensure_default_database())
        table = table or DEFAULT_TABLE
    elif table is None and query is None and source.endswith(SQLITE_SUFFIXES):
        table = default_table
    csv_format = CsvFormat(delimiter=args.csv_delimiter, decimal=args.decimal)
    labels = getattr(args, "labels", None)
    frame = load_table(source, table=table, query=query, csv_format=csv_format, labels=labels)
    return ReadSource(frame, describe_source(source, table, query), table)
