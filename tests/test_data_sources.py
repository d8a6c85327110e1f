"""Loading raw tables: values as stored, and errors that name the file and the problem."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tabship.training.data_sources import (
    DataSourceError,
    describe_source,
    load_table,
    resolve_source,
    table_sha256,
)

ROWS: list[tuple[Any, ...]] = [
    (1, "12", 0.5, "TRUE"),
    (2, " 3.5 ", None, "false"),
    (3, 7, "n/a", "1"),
]


def write_sqlite(path: Path, table: str, rows: Sequence[tuple[Any, ...]]) -> Path:
    with contextlib.closing(sqlite3.connect(path)) as connection, connection:
        # No declared column types: SQLite keeps each cell's own type, like a dirty extract.
        connection.execute(f'CREATE TABLE "{table.replace(chr(34), chr(34) * 2)}" (id, a, b, y)')
        connection.executemany(
            f'INSERT INTO "{table.replace(chr(34), chr(34) * 2)}" VALUES (?, ?, ?, ?)', rows
        )
    return path


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = write_sqlite(tmp_path / "shop.sqlite", "sessions", ROWS)
    write_sqlite(path, "empty", [])
    return path


def error_text(excinfo: pytest.ExceptionInfo[DataSourceError]) -> str:
    return str(excinfo.value)


# --- SQLite ------------------------------------------------------------------------------------


def test_sqlite_table_keeps_stored_types(database: Path) -> None:
    frame = load_table(database, table="sessions")
    assert list(frame.columns) == ["id", "a", "b", "y"]
    assert frame["a"].tolist() == ["12", " 3.5 ", 7]  # text numbers stay text, spaces kept
    assert frame["b"][0] == 0.5
    assert pd.isna(frame["b"][1])
    assert frame["b"][2] == "n/a"


def test_sqlite_query(database: Path) -> None:
    frame = load_table(str(database), query="SELECT id, y FROM sessions WHERE id >= 2")
    assert frame.to_dict("list") == {"id": [2, 3], "y": ["false", "1"]}


@pytest.mark.parametrize("suffix", [".sqlite3", ".db"])
def test_sqlite_suffixes(tmp_path: Path, suffix: str) -> None:
    path = write_sqlite(tmp_path / f"x{suffix}", "t", ROWS)
    assert len(load_table(path, table="t")) == 3


def test_sqlite_table_names_are_quoted(tmp_path: Path) -> None:
    odd = 'my "odd" table; DROP TABLE x'
    path = write_sqlite(tmp_path / "odd.db", odd, ROWS)
    assert len(load_table(path, table=odd)) == 3


def test_sqlite_reading_does_not_modify_the_file(database: Path) -> None:
    before = database.read_bytes()
    load_table(database, table="sessions")
    assert database.read_bytes() == before
    with pytest.raises(DataSourceError, match="failed"):
        load_table(database, query="DELETE FROM sessions")  # read-only connection
    assert len(load_table(database, table="sessions")) == 3


def test_missing_table_lists_existing_tables(database: Path) -> None:
    with pytest.raises(DataSourceError) as excinfo:
        load_table(database, table="visits")
    message = error_text(excinfo)
    assert str(database) in message
    assert "'visits'" in message
    assert "empty, sessions" in message


def test_neither_table_nor_query_lists_tables(database: Path) -> None:
    with pytest.raises(DataSourceError) as excinfo:
        load_table(database)
    assert str(database) in error_text(excinfo)
    assert "empty, sessions" in error_text(excinfo)


def test_both_table_and_query(database: Path) -> None:
    with pytest.raises(DataSourceError, match="not both") as excinfo:
        load_table(database, table="sessions", query="SELECT 1")
    assert str(database) in error_text(excinfo)


def test_empty_table(database: Path) -> None:
    with pytest.raises(DataSourceError, match="has no rows") as excinfo:
        load_table(database, table="empty")
    assert str(database) in error_text(excinfo)
    assert "'empty'" in error_text(excinfo)


def test_empty_query_result_and_bad_query(database: Path) -> None:
    with pytest.raises(DataSourceError, match="has no rows"):
        load_table(database, query="SELECT * FROM sessions WHERE id > 99")
    with pytest.raises(DataSourceError) as excinfo:
        load_table(database, query="SELECT * FROM nowhere")
    assert str(database) in error_text(excinfo)
    assert "SELECT * FROM nowhere" in error_text(excinfo)
    assert "no such table" in error_text(excinfo)


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is a text file, not SQLite\n" * 200)
    with pytest.raises(DataSourceError, match="not a readable SQLite database") as excinfo:
        load_table(path, table="sessions")
    assert str(path) in error_text(excinfo)


# --- CSV ---------------------------------------------------------------------------------------


def test_csv_reads_every_cell_as_text(tmp_path: Path) -> None:
    path = tmp_path / "raw.csv"
    path.write_text('id,a,b,y\n1,12, 3.5 ,TRUE\n2,,NA,false\n3,1e2,"n/a",1\n', encoding="utf-8")
    frame = load_table(path)
    assert frame["id"].tolist() == ["1", "2", "3"]
    assert frame["a"][0] == "12"
    assert pd.isna(frame["a"][1])  # only an empty cell is missing
    assert frame["a"][2] == "1e2"
    assert frame["b"].tolist() == [" 3.5 ", "NA", "n/a"]
    assert frame["y"].tolist() == ["TRUE", "false", "1"]


def test_csv_with_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffid,y\n1,TRUE\n".encode())
    assert list(load_table(path).columns) == ["id", "y"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty"),
        (b"id,y\n", "has no rows"),
        (b"id,y\n1,2\n3,4,5,6\n", "cannot read the CSV"),
        (b"id,y\n1,\xff\xfe\xfa\n", "cannot read the CSV"),
    ],
)
def test_bad_csv(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataSourceError, match=problem) as excinfo:
        load_table(path)
    assert str(path) in error_text(excinfo)


def test_table_or_query_only_for_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "raw.csv"
    path.write_text("id\n1\n", encoding="utf-8")
    with pytest.raises(DataSourceError, match="only to SQLite"):
        load_table(path, table="sessions")


# --- Parquet -----------------------------------------------------------------------------------


def small_frame(start: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"id": np.arange(start, start + 3), "y": ["TRUE", "false", None]})


def test_parquet_file(tmp_path: Path) -> None:
    path = tmp_path / "raw.parquet"
    small_frame().to_parquet(path)
    frame = load_table(path)
    assert frame["id"].tolist() == [0, 1, 2]
    assert frame["y"][0] == "TRUE"
    assert pd.isna(frame["y"][2])


def test_parquet_directory(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    small_frame(0).to_parquet(folder / "part-0.parquet")
    small_frame(3).to_parquet(folder / "part-1.parquet")
    frame = load_table(folder)
    assert sorted(frame["id"].tolist()) == list(range(6))


def test_directory_without_parquet(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(DataSourceError, match=r"no \.parquet files") as excinfo:
        load_table(tmp_path)
    assert str(tmp_path) in error_text(excinfo)


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    small_frame().to_parquet(path)
    path.write_bytes(path.read_bytes()[:40] + b"garbage" * 20)
    with pytest.raises(DataSourceError, match="cannot read Parquet") as excinfo:
        load_table(path)
    assert str(path) in error_text(excinfo)


def test_empty_parquet(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    small_frame().iloc[:0].to_parquet(path)
    with pytest.raises(DataSourceError, match="has no rows") as excinfo:
        load_table(path)
    assert str(path) in error_text(excinfo)


# --- paths -------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.sqlite"
    with pytest.raises(DataSourceError, match="no such file") as excinfo:
        load_table(path, table="sessions")
    assert str(path) in error_text(excinfo)
    assert not path.exists()  # a read-only open never creates the database


@pytest.mark.parametrize("name", ["data.xlsx", "data"])
def test_unsupported_kind(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"x")
    with pytest.raises(DataSourceError, match="unsupported") as excinfo:
        load_table(path)
    assert str(path) in error_text(excinfo)
    assert ".sqlite" in error_text(excinfo)
    assert ".csv" in error_text(excinfo)
    assert "Parquet" in error_text(excinfo)


def test_describe_source() -> None:
    assert (
        describe_source("data/online_shoppers.sqlite", "sessions", None)
        == "sqlite:data/online_shoppers.sqlite#sessions"
    )
    assert (
        describe_source("x.db", None, "SELECT *\n  FROM t") == "sqlite:x.db?query=SELECT * FROM t"
    )
    assert describe_source("path/to/file.csv", None, None) == "csv:path/to/file.csv"
    assert describe_source(Path("raw.parquet"), None, None) == "parquet:raw.parquet"


def test_resolve_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TABSHIP_DATA", raising=False)
    assert resolve_source(None) is None
    monkeypatch.setenv("TABSHIP_DATA", "from/env.csv")
    assert resolve_source(None) == "from/env.csv"
    assert resolve_source("from/cli.db") == "from/cli.db"
    monkeypatch.setenv("TABSHIP_DATA", "")
    assert resolve_source(None) is None


# --- content hash ------------------------------------------------------------------------------


def test_table_sha256() -> None:
    frame = pd.DataFrame(
        {"a": pd.Series([1, "2", None, 0.1], dtype=object), "b": [1.5, np.nan, 2.0, 3.0]}
    )
    digest = table_sha256(frame)
    assert len(digest) == 64
    assert table_sha256(frame.copy()) == digest
    assert table_sha256(frame[["b", "a"]]) == digest  # canonical column order
    changed = frame.copy()
    changed.loc[3, "b"] = 3.0000000001
    assert table_sha256(changed) != digest
    as_number = frame.copy()
    as_number.loc[1, "a"] = 2  # text "2" and the number 2 are different raw data
    assert table_sha256(as_number) != digest
    assert table_sha256(frame.iloc[::-1]) != digest
    assert table_sha256(frame.rename(columns={"a": "c"})) != digest
