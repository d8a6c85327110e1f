"""The Parquet side of request capture (runtime/live/capture.py): one capture file built in
memory, row group by row group, so that its final size is known before it touches the disk
budget. pyarrow is the batch extra's: capture needs that extra (docs/live.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tabship.contract.target import Target
from tabship.runtime.batch import arrow_columns

# The columns capture adds to the model's inputs (names no declared column can take: they
# start with `_tabship_`, and tabship train drops them); the answer's are the target's
# capture_columns with the prefix (binary PROBABILITY + LABEL, multiclass PROBABILITIES + LABEL).
META_PREFIX = "_tabship_"
REQUEST_ID = "_tabship_request_id"
ROW = "_tabship_row"
TIME = "_tabship_time"
MODEL = "_tabship_model"
VERSION = "_tabship_version"
PROBABILITY = "_tabship_probability"
PROBABILITIES = "_tabship_probabilities"
LABEL = "_tabship_label"


def capture_schema(inputs: Sequence[tuple[str, bool]], target: Target) -> pa.Schema:
    """inputs: (column name, numeric?) of the captured input columns, in manifest order."""
    fields = [pa.field(name, pa.float64() if numeric else pa.string()) for name, numeric in inputs]
    empty = target.capture_columns(np.empty((0, target.width)), np.empty(0))
    answer = arrow_columns.fields(empty, META_PREFIX)
    return pa.schema(
        [
            *fields,
            *answer,
            pa.field(MODEL, pa.string()),
            pa.field(VERSION, pa.string()),
            pa.field(TIME, pa.timestamp("us", tz="UTC")),
            pa.field(REQUEST_ID, pa.string()),
            pa.field(ROW, pa.int32()),
        ]
    )


def answer_columns(target: Target, probabilities: np.ndarray, decisions: Any) -> dict[str, Any]:
    """The answer's capture columns by name (as capture_schema names them)."""
    return {
        META_PREFIX + c.name: c.values for c in target.capture_columns(probabilities, decisions)
    }


def _array(values: Any, kind: pa.DataType) -> pa.Array:
    if pa.types.is_floating(kind):
        numbers = np.asarray(values, dtype=np.float64)
        return pa.array(numbers, type=kind, mask=np.isnan(numbers))
    if pa.types.is_string(kind):
        texts = values.tolist() if isinstance(values, np.ndarray) else list(values)
        return pa.array([t if t else None for t in texts], type=kind)
    if pa.types.is_timestamp(kind):
        micros = (np.asarray(values, dtype=np.float64) * 1e6).astype(np.int64)
        return pa.array(micros, type=pa.int64()).cast(kind)
    if pa.types.is_list(kind):
        return pa.array(np.asarray(values, dtype=np.float64).tolist(), type=kind)
    return pa.array(np.asarray(values), type=kind)


class CaptureFile:
    """A Parquet file growing in memory: `append` writes one row group, `finish` its bytes."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.rows = 0
        self._sink = pa.BufferOutputStream()
        self._writer = pq.ParquetWriter(self._sink, schema, compression="zstd")

    @property
    def size(self) -> int:
        return int(self._sink.tell())

    def append(self, columns: Mapping[str, Any]) -> None:
        arrays = [_array(columns[f.name], f.type) for f in self.schema]
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        self._writer.write_table(table)
        self.rows += table.num_rows

    def finish(self) -> bytes:
        self._writer.close()
        return bytes(self._sink.getvalue().to_pybytes())


def warm_up(schema: pa.Schema) -> None:
    """Build and encode one row of this schema. pyarrow imports pandas (when it is installed)
    on its first array: that happens here, at start-up, not on the writer's thread while
    serving; and a schema pyarrow cannot write fails before the server is ready."""
    row: dict[str, Any] = {}
    for f in schema:
        if pa.types.is_floating(f.type) or pa.types.is_timestamp(f.type):
            row[f.name] = np.zeros(1)
        elif pa.types.is_string(f.type):
            row[f.name] = np.array(["x"], dtype=object)
        elif pa.types.is_list(f.type):
            row[f.name] = np.zeros((1, 2))
        else:
            row[f.name] = np.zeros(1, dtype=np.int64)
    file = CaptureFile(schema)
    file.append(row)
    file.finish()
