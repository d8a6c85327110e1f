"""Reading the raw training table from a SQLite database, a CSV file or Parquet.

Values are not interpreted here: text stays text (a CSV is read entirely as text, SQLite keeps
each cell's stored type), so the cleaning rules live in one place, the pipeline, and apply the same
way at serving time. Every failure is a DataSourceError whose message names the file (and the
table or query) and the problem, so users never see a bare traceback.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tabship.training.capture_source import (
    CaptureSourceError,
    is_capture,
    join_labels,
    without_meta,
)

SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
SUPPORTED = (
    "SQLite (.sqlite, .sqlite3, .db), CSV (.csv), Parquet (.parquet, .pq) "
    "or a directory of Parquet files"
)
DATA_ENV = "TABSHIP_DATA"


class DataSourceError(Exception):
    """The raw table cannot be read; the message names the source and the problem."""


def _kind(path: Path) -> str | None:
    if path.is_dir():
        return "parquet"
    suffix = path.suffix.lower()
    if suffix in SQLITE_SUFFIXES:
        return "sqlite"
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    return None


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _one_line(query: str) -> str:
    return " ".join(query.split())


def _sqlite_tables(connection: sqlite3.Connection) -> list[str]:
    rows = connection.execute(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
        "AND name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall()
    return [str(name) for (name,) in rows]


def _read_sqlite(path: Path, shown: str, table: str | None, query: str | None) -> pd.DataFrame:
    if table is not None and query is not None:
        raise DataSourceError(f"{shown}: give either a table or a query, not both")
    # Read-only URI: reading training data must never create or modify a database file.
    uri = path.resolve().as_uri() + "?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as error:
        raise DataSourceError(f"{shown}: cannot open the SQLite database ({error})") from error
    with contextlib.closing(connection):
        try:
            tables = _sqlite_tables(connection)
        except sqlite3.Error as error:
            raise DataSourceError(f"{shown}: not a readable SQLite database ({error})") from error
        listing = ", ".join(tables) if tables else "none"
        if table is None and query is None:
            raise DataSourceError(
                f"{shown}: name a table or give a query; tables in the file: {listing}"
            )
        if table is not None:
            # SQLite table names are case-insensitive; report the name as the user wrote it.
            if table.lower() not in {t.lower() for t in tables}:
                raise DataSourceError(f"{shown}: no table {table!r}; tables in the file: {listing}")
            sql, what = f"SELECT * FROM {_quote_identifier(table)}", f"table {table!r}"
        else:
            assert query is not None
            sql, what = query, f"query {_one_line(query)!r}"
        try:
            frame = pd.read_sql_query(sql, connection)
        except (sqlite3.Error, pd.errors.DatabaseError) as error:
            # pandas wraps the sqlite3 error and repeats the SQL; report SQLite's own words.
            reason = error.__cause__ if isinstance(error.__cause__, sqlite3.Error) else error
            raise DataSourceError(f"{shown}: {what} failed ({reason})") from error
    if frame.empty:
        raise DataSourceError(f"{shown}: {what} has no rows")
    return frame


@dataclass(frozen=True)
class CsvFormat:
    """How a CSV file is written: field separator and decimal mark (e.g. ";" and "," in much
    of Europe). A byte-order mark is always accepted."""

    delimiter: str = ","
    decimal: str = "."

    def check(self) -> None:
        if len(self.delimiter) != 1 or self.delimiter in '\r\n"':
            raise DataSourceError(
                f"--csv-delimiter must be one character other than a quote or a line break, "
                f"got {self.delimiter!r}"
            )
        if self.decimal not in (".", ","):
            raise DataSourceError(f"--decimal must be '.' or ',', got {self.decimal!r}")
        if self.decimal == self.delimiter:
            raise DataSourceError(
                f"--decimal {self.decimal!r} is also the field separator; "
                "pass --csv-delimiter (e.g. ';')"
            )


# A number written with a decimal comma, nothing else in the cell: "1,5", "-0,25", "3,1e-4".
_DECIMAL_COMMA = re.compile(r"[ \t]*[+-]?[0-9]*,[0-9]+(?:[eE][+-]?[0-9]+)?[ \t]*")


def _decimal_points(frame: pd.DataFrame) -> pd.DataFrame:
    """Rewrites decimal-comma numbers as the point form every later rule parses; other text
    (labels that happen to hold a comma such as "a,b") is left as written."""

    def fix(value: object) -> object:
        if isinstance(value, str) and _DECIMAL_COMMA.fullmatch(value):
            return value.replace(",", ".")
        return value

    return frame.apply(lambda column: column.map(fix))


def _read_csv(path: Path, shown: str, csv_format: CsvFormat) -> pd.DataFrame:
    csv_format.check()
    try:
        # Everything as text: only an empty cell means missing; "NA", "null" etc. stay as
        # written and are judged later by the declared column rules.
        frame = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            encoding="utf-8-sig",
            sep=csv_format.delimiter,
        )
    except pd.errors.EmptyDataError as error:
        raise DataSourceError(f"{shown}: the CSV file is empty (no header, no rows)") from error
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as error:
        raise DataSourceError(f"{shown}: cannot read the CSV file ({error})") from error
    if frame.empty:
        raise DataSourceError(f"{shown}: the CSV file has no rows")
    if len(frame.columns) == 1 and csv_format.delimiter == "," and ";" in str(frame.columns[0]):
        raise DataSourceError(
            f"{shown}: the header is one column {str(frame.columns[0])[:60]!r}...; "
            "if the fields are separated by ';', pass --csv-delimiter ';'"
        )
    return _decimal_points(frame) if csv_format.decimal == "," else frame


def _read_parquet(path: Path, shown: str) -> pd.DataFrame:
    if path.is_dir() and not any(p.is_file() for p in path.rglob("*.parquet")):
        raise DataSourceError(f"{shown}: the directory contains no .parquet files")
    import pyarrow as pa  # pandas needs it for Parquet anyway; imported here for its errors

    try:
        frame = pd.read_parquet(path)
    except (pa.ArrowException, OSError, ValueError) as error:
        raise DataSourceError(f"{shown}: cannot read Parquet ({error})") from error
    if frame.empty:
        raise DataSourceError(f"{shown}: the Parquet data has no rows")
    return frame


def load_table(
    source: str | os.PathLike[str],
    *,
    table: str | None = None,
    query: str | None = None,
    csv_format: CsvFormat | None = None,
    labels: str | None = None,
) -> pd.DataFrame:
    """The raw table, values as stored. `table` / `query` (exactly one) apply to SQLite only,
    `csv_format` to CSV only, `labels` (a table joined on request id) to a capture folder."""
    shown = os.fspath(source)
    path = Path(shown)
    if not path.exists():
        raise DataSourceError(f"{shown}: no such file or directory")
    kind = _kind(path)
    if kind is None:
        raise DataSourceError(
            f"{shown}: unsupported kind of data source {path.suffix or '(no extension)'!r}; "
            f"supported: {SUPPORTED}"
        )
    if kind != "sqlite" and (table is not None or query is not None):
        raise DataSourceError(f"{shown}: a table or query applies only to SQLite sources")
    if kind == "sqlite":
        if labels is not None:
            raise DataSourceError(f"{shown}: --labels applies to a capture folder only")
        return _read_sqlite(path, shown, table, query)
    if kind != "csv" and csv_format not in (None, CsvFormat()):
        raise DataSourceError(f"{shown}: --csv-delimiter and --decimal apply only to CSV files")
    if kind == "csv":
        if labels is not None:
            raise DataSourceError(f"{shown}: --labels applies to a capture folder only")
        return _read_csv(path, shown, csv_format or CsvFormat())
    if is_capture(path):
        return _read_capture(path, shown, labels)
    if labels is not None:
        raise DataSourceError(f"{shown}: --labels applies to a capture folder only")
    return _read_parquet(path, shown)


def _read_capture(path: Path, shown: str, labels: str | None) -> pd.DataFrame:
    """A server's capture folder: its rows, the labels joined, its own columns dropped."""
    frame = _read_parquet(path, shown)
    if labels is not None:
        try:
            frame = join_labels(frame, load_table(labels), labels)
        except CaptureSourceError as error:
            raise DataSourceError(str(error)) from None
        if frame.empty:
            raise DataSourceError(f"{shown}: no captured row has a label in {labels}")
    return without_meta(frame)


def describe_source(
    source: str | os.PathLike[str], table: str | None = None, query: str | None = None
) -> str:
    """Short description for the manifest, e.g. `sqlite:data/online_shoppers.sqlite#sessions`."""
    shown = os.fspath(source)
    kind = _kind(Path(shown)) or "file"
    if kind == "sqlite":
        if query is not None:
            return f"sqlite:{shown}?query={_one_line(query)}"
        if table is not None:
            return f"sqlite:{shown}#{table}"
    return f"{kind}:{shown}"


def _cell_token(value: Any) -> Any:
    """A JSON-able, type-tagged form of one cell: text "2" and the number 2 hash differently,
    as raw dirt should; NaN, None and pd.NA are all "missing"."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, str):
        return ["s", value]
    if isinstance(value, int):
        return ["i", str(value)]
    if isinstance(value, float):
        # repr is the shortest exact round-trip form: a fixed, platform-independent format.
        return None if math.isnan(value) else ["f", repr(value)]
    if isinstance(value, bytes):
        return ["y", value.hex()]
    if hasattr(value, "item"):  # numpy scalars (e.g. from a datetime or categorical column)
        item = value.item()
        if type(item) is not type(value):
            return _cell_token(item)
    return ["o", str(value)]


def table_sha256(frame: pd.DataFrame) -> str:
    """Deterministic content hash of a raw table: columns in sorted order, rows in table order,
    every cell type-tagged. Equal for equal data, different as soon as any cell changes."""
    order = sorted(range(frame.shape[1]), key=lambda i: str(frame.columns[i]))
    digest = hashlib.sha256()
    digest.update(json.dumps([str(frame.columns[i]) for i in order]).encode("utf-8") + b"\n")
    # Column-wise tolist() gives plain Python values quickly; rows are then hashed one by one.
    tokens = [[_cell_token(v) for v in frame.iloc[:, i].tolist()] for i in order]
    for row in zip(*tokens, strict=True):
        digest.update(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
    return digest.hexdigest()


def resolve_source(cli_value: str | None) -> str | None:
    """The data path from the command line, else $TABSHIP_DATA, else None: the built-in default
    data set (training.default_data.ensure_default_database)."""
    if cli_value:
        return cli_value
    return os.environ.get(DATA_ENV) or None
