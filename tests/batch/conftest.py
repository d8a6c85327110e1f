"""Batch fixtures: one gated copy of the session's exported version, and dirty generated inputs
as typed Parquet (numbers float64, categories text) and as raw CSV text."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

INPUT_ROWS = 3000
TRAIN_ROWS = 3000


@dataclass(frozen=True)
class Inputs:
    parquet: Path
    csv: Path
    directory: Path  # the same rows as `parquet`, split over three files
    table: pa.Table  # what `parquet` holds
    n_rows: int


@pytest.fixture(scope="session")
def gated_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small version trained, exported and gated by the real code (parity.status passed)."""
    from tabship.export.artifact import ReleaseCandidate
    from tabship.export.registry import Registry
    from tabship.release.flow import release_candidate
    from tabship.training.data_sources import table_sha256
    from tabship.training.declaration import load_declaration
    from tabship.training.default_data import generate_sessions
    from tabship.training.prepare import prepare
    from tabship.training.train import train_variant

    declaration = load_declaration()
    frame = generate_sessions(n_rows=TRAIN_ROWS)
    trained = train_variant(
        prepare(frame, declaration, "generated"), declaration, "full", search_iterations=1
    )
    data_info = {"source": "generated", "sha256": table_sha256(frame)}
    candidate = ReleaseCandidate.from_trained(trained, data_info, declaration)
    released = release_candidate(candidate, Registry(tmp_path_factory.mktemp("batch-registry")))
    assert released.passed, released.outcome
    return released.folder


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    try:
        return float(value)
    except ValueError:
        return math.inf  # text that is not a number: a value the validator refuses


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def typed_table(frame: pd.DataFrame) -> pa.Table:
    from tabship.training.default_data import CATEGORICAL_COLUMNS, NUMERIC_COLUMNS

    columns: dict[str, pa.Array] = {"session_id": pa.array(np.arange(len(frame)), pa.int64())}
    for name in NUMERIC_COLUMNS:
        columns[name] = pa.array([_number(v) for v in frame[name]], pa.float64())
    for name in CATEGORICAL_COLUMNS:
        columns[name] = pa.array([_text(v) for v in frame[name]], pa.string())
    return pa.table(columns)


@pytest.fixture(scope="session")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    from tabship.training.default_data import generate_sessions

    folder = tmp_path_factory.mktemp("batch-inputs")
    frame = generate_sessions(seed=7, n_rows=INPUT_ROWS)
    table = typed_table(frame)
    pq.write_table(table, folder / "sessions.parquet", row_group_size=1000)
    raw = frame.drop(columns=["Revenue"])
    raw.insert(0, "session_id", np.arange(len(frame)))
    raw.to_csv(folder / "sessions.csv", index=False)
    directory = folder / "parts"
    directory.mkdir()
    for i, (start, stop) in enumerate([(0, 1000), (1000, 1700), (1700, INPUT_ROWS)]):
        pq.write_table(table.slice(start, stop - start), directory / f"part-{i:02d}.parquet")
    return Inputs(
        folder / "sessions.parquet", folder / "sessions.csv", directory, table, len(frame)
    )
