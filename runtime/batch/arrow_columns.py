"""The target object's answer columns (tabship.contract.target.BatchColumn) as Arrow fields,
for `tabship score` and request capture (pyarrow only: capture loads this in the server)."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from tabship.contract.target import BatchColumn

ARROW_TYPES = {
    "float64": pa.float64(),
    "int64": pa.int64(),
    "string": pa.string(),
    "list<float64>": pa.list_(pa.float64()),
}


def fields(columns: Sequence[BatchColumn], prefix: str = "") -> list[pa.Field]:
    return [pa.field(prefix + column.name, ARROW_TYPES[column.type]) for column in columns]
