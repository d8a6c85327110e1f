"""Row-level rejects for batch scoring, on top of the server's columnar validator.

The server's `runtime.schema.InputSchema.validate_columns` is all-or-nothing (one problem
refuses the request). A batch job instead scores the good rows and reports the bad ones, so this
module runs the SAME engine in its masking mode (`mask_columns`: one pass, a good-row mask and
every problem) one column at a time:

- numeric Arrow columns (ints, floats) go to it as numpy arrays (its vectorised path);
- numeric text (CSV cells, text columns of Parquet) is read vectorised by Arrow where the text
  matches the engine's own pattern (contract.rules.NUMERIC_TEXT, anchored, run by RE2): such a
  cell is accepted by the engine whatever else, and Arrow's cast reads decimal notation to the
  same float64 as Python's float() (both correctly rounded). Every other cell (null, blank,
  anything the pattern refuses) goes to the engine itself, once per distinct value, which
  decides: its outcome and its reason are the server's;
- every other column (text, booleans, any categorical) is dictionary-encoded by Arrow and only
  its distinct values go through the validator, value by value; the outcome is gathered back
  to the rows with numpy.

No rule is restated here: what is accepted, how it is fed and why a value is refused all come
from `runtime.schema` and `contract.rules`. A null cell is fed to the validator as `None` (a
JSON null). tests/batch/test_numeric_text_parity.py holds the two paths to the same outcomes.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tabship.contract.manifest import NUMERIC
from tabship.contract.rules import NUMERIC_TEXT, WHITESPACE
from tabship.runtime.model.schema import InputSchema

_UNLIMITED = sys.maxsize
# The engine's numeric-text pattern as a whole-cell match (RE2's `$` is the end of the text).
NUMERIC_TEXT_CELL = f"^(?:{NUMERIC_TEXT})$"


@dataclass
class ChunkResult:
    """One chunk: feeds for the rows that passed (in order) and the problems of the rest."""

    n_rows: int
    good: np.ndarray  # bool [n_rows]
    feeds: dict[str, np.ndarray]  # [n_good, 1] per graph input
    problem_rows: np.ndarray  # int64, row within the chunk, one entry per problem
    problem_columns: list[str]
    problem_reasons: list[str]
    unseen: dict[str, int] = field(default_factory=dict)

    @property
    def n_good(self) -> int:
        return int(self.good.sum())


def _is_plain_number(kind: pa.DataType) -> bool:
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind))


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def to_numpy(array: pa.Array, null: float | int | None = None) -> np.ndarray:
    """A numeric Array as numpy, read from its buffers, with nulls replaced by `null`.

    Arrow's own to_numpy / fill_null(python value) go through its pandas shim, which imports
    pandas: the local scorer must not.
    """
    if pa.types.is_float16(array.type):
        array = array.cast(pa.float64())
    kind = array.type
    code = "f" if pa.types.is_floating(kind) else "i" if pa.types.is_signed_integer(kind) else "u"
    dtype = np.dtype(f"{code}{kind.bit_width // 8}")
    values = np.frombuffer(
        array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize
    )
    if not array.null_count:
        return values
    if null is None:
        raise ValueError("the array has nulls and no replacement was given")
    bits = np.unpackbits(np.frombuffer(array.buffers()[0], dtype=np.uint8), bitorder="little")
    missing = bits[array.offset : array.offset + len(array)] == 0
    result = values.astype(np.result_type(dtype, np.asarray(null).dtype), copy=True)
    result[missing] = null
    return result


def true_mask(array: pa.Array) -> np.ndarray:
    """A boolean Array as a numpy bool mask, null counted as False (read from its bitmaps)."""
    n = len(array)
    bits = np.unpackbits(np.frombuffer(array.buffers()[1], dtype=np.uint8), bitorder="little")
    mask = bits[array.offset : array.offset + n].astype(bool)
    if array.null_count:
        valid = np.frombuffer(array.buffers()[0], dtype=np.uint8)
        mask &= np.unpackbits(valid, bitorder="little")[array.offset : array.offset + n] == 1
    return mask


def numeric_text_cells(array: pa.Array) -> np.ndarray:
    """Which cells of a text Array hold numeric text the engine accepts as it is."""
    return true_mask(pc.match_substring_regex(array, NUMERIC_TEXT_CELL))


def parse_numeric_text(array: pa.Array, cells: np.ndarray | None = None) -> np.ndarray:
    """float64 of the text cells that match NUMERIC_TEXT_CELL (all, or those marked in
    `cells`; the others NaN), as contract.values.number_value reads them: ASCII white space
    stripped, then a correctly rounded decimal parse."""
    trimmed = pc.utf8_trim(array, WHITESPACE)
    if cells is not None:  # the other cells hidden as nulls: same buffers, no copy of the text
        bits = np.zeros(trimmed.offset + len(trimmed), dtype=bool)
        bits[trimmed.offset :] = cells
        validity = pa.py_buffer(np.packbits(bits, bitorder="little"))
        trimmed = pa.Array.from_buffers(
            trimmed.type, len(trimmed), [validity, *trimmed.buffers()[1:]], offset=trimmed.offset
        )
    return to_numpy(pc.cast(trimmed, pa.float64()), math.nan)


def from_numpy(values: np.ndarray, kind: pa.DataType) -> pa.Array:
    """numpy (bool excluded, no nulls) -> Arrow, without pa.array (which imports pandas)."""
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])


def strings(texts: Sequence[str] | str, n: int | None = None) -> pa.Array:
    """Python strings (or one string repeated n times) -> an Arrow string array."""
    if isinstance(texts, str):
        encoded = texts.encode("utf-8")
        count = int(n or 0)
        offsets = np.arange(count + 1, dtype=np.int32) * len(encoded)
        data = encoded * count
    else:
        parts = [t.encode("utf-8") for t in texts]
        count = len(parts)
        offsets = np.zeros(count + 1, dtype=np.int32)
        np.cumsum([len(p) for p in parts], out=offsets[1:])
        data = b"".join(parts)
    return pa.Array.from_buffers(
        pa.string(), count, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


class ChunkValidator:
    """Validates Arrow record batches column by column with the server's rules."""

    def __init__(self, manifest_inputs: Sequence[Mapping[str, Any]]) -> None:
        self.schemas = [InputSchema([entry], max_problems=_UNLIMITED) for entry in manifest_inputs]
        self.specs = [schema.columns[0] for schema in self.schemas]
        self.names = tuple(spec.name for spec in self.specs)

    def missing_required(self, available: Sequence[str]) -> list[str]:
        present = set(available)
        return [s.name for s in self.specs if not s.nullable and s.name not in present]

    def validate(self, batch: pa.RecordBatch | pa.Table) -> ChunkResult:
        n = batch.num_rows
        good = np.ones(n, dtype=bool)
        feeds_full: list[np.ndarray] = []
        rows: list[np.ndarray] = []
        columns: list[str] = []
        reasons: list[str] = []
        unseen: dict[str, int] = {}
        present = set(batch.schema.names)
        for schema, spec in zip(self.schemas, self.specs, strict=True):
            if spec.name in present:
                array = batch.column(spec.name)
                if isinstance(array, pa.ChunkedArray):
                    array = array.combine_chunks()
                values, bad, why, count = self._column(schema, array, n)
            else:
                values, bad, why, count = self._absent(schema, n)
            feeds_full.append(values)
            if len(bad):
                good[bad] = False
                rows.append(bad)
                columns.extend([spec.name] * len(bad))
                reasons.extend(why)
            if count:
                unseen[spec.name] = count
        problem_rows = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
        order = np.argsort(problem_rows, kind="stable")
        all_good = bool(good.all())
        feeds = {
            spec.name: (values if all_good else values[good]).reshape(-1, 1)
            for spec, values in zip(self.specs, feeds_full, strict=True)
        }
        return ChunkResult(
            n_rows=n,
            good=good,
            feeds=feeds,
            problem_rows=problem_rows[order].astype(np.int64),
            problem_columns=[columns[i] for i in order],
            problem_reasons=[reasons[i] for i in order],
            unseen=unseen,
        )

    # -- one column ---------------------------------------------------------------------------

    @staticmethod
    def _run(
        schema: InputSchema, values: Any, n: int
    ) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray | None]:
        """The engine's masking mode on one column, one pass: (fed values with placeholders,
        bad positions, the first reason of each, unseen flags of a categorical column)."""
        name = schema.names[0]
        masked = schema.mask_columns({name: values}, n)
        fed = masked.validated.columns[0]
        unseen = masked.unseen_rows.get(name)
        if not masked.problems:
            return fed, np.empty(0, dtype=np.int64), [], unseen
        by_row: dict[int, str] = {}
        for problem in masked.problems:  # all per row: mask_columns raised for a whole column
            if problem.row is not None:
                by_row.setdefault(problem.row, problem.reason)
        bad = np.flatnonzero(~masked.good).astype(np.int64)
        return fed, bad, [by_row[int(r)] for r in bad], unseen

    def _absent(self, schema: InputSchema, n: int) -> tuple[np.ndarray, np.ndarray, list[str], int]:
        validated = schema.validate_columns({}, n)  # nullable: every row missing
        return (
            np.asarray(validated.columns[0], dtype=schema.columns[0].dtype),
            np.empty(0, np.int64),
            [],
            0,
        )

    def _column(
        self, schema: InputSchema, array: pa.Array, n: int
    ) -> tuple[np.ndarray, np.ndarray, list[str], int]:
        spec = schema.columns[0]
        if pa.types.is_dictionary(array.type):
            array = array.cast(array.type.value_type)
        if spec.kind == NUMERIC and pa.types.is_decimal(array.type):
            array = array.cast(pa.float64())
        if spec.kind == NUMERIC and _is_plain_number(array.type):
            values = to_numpy(array, math.nan)  # a null is a JSON null: missing
            fed, bad, why, _ = self._run(schema, values, n)
            return fed, bad, why, 0
        if spec.kind == NUMERIC and _is_text(array.type):
            return self._numeric_text(schema, array, n)
        return self._by_distinct(schema, array)

    def _numeric_text(
        self, schema: InputSchema, array: pa.Array, n: int
    ) -> tuple[np.ndarray, np.ndarray, list[str], int]:
        """Cells the engine's pattern accepts are parsed by Arrow, the rest decided by the engine."""
        accepted = numeric_text_cells(array)
        try:
            if accepted.all():
                values = parse_numeric_text(array)
                return (values, *self._number_rules(schema, values, accepted), 0)
            values = parse_numeric_text(array, accepted)  # NaN where not accepted
            rest = np.flatnonzero(~accepted)
        except pa.ArrowInvalid:  # never seen (the tests hold RE2 and the cast to Python's);
            return self._by_distinct(schema, array)  # if it were, the engine decides each cell
        ruled, ruled_why = self._number_rules(schema, values, accepted)
        fed, bad, why, _ = self._by_distinct(schema, array.take(from_numpy(rest, pa.int64())))
        values[rest] = fed
        return values, np.concatenate([rest[bad], ruled]), [*why, *ruled_why], 0

    @staticmethod
    def _number_rules(
        schema: InputSchema, values: np.ndarray, accepted: np.ndarray
    ) -> tuple[np.ndarray, list[str]]:
        """The engine's rules of a user's pipeline (domain, known values) on the numbers Arrow
        parsed: (refused positions, reasons)."""
        spec = schema.columns[0]
        if not spec.has_rules:
            return np.empty(0, dtype=np.int64), []
        bad = np.flatnonzero(spec.outside_rules(values) & accepted).astype(np.int64)
        why = [spec.number_problem(float(values[r])) or "" for r in bad]
        return bad, why

    def _by_distinct(
        self, schema: InputSchema, array: pa.Array
    ) -> tuple[np.ndarray, np.ndarray, list[str], int]:
        """The engine on each distinct value once (and on null once), gathered back to the rows."""
        encoded = pc.dictionary_encode(array)
        distinct: list[Any] = encoded.dictionary.to_pylist()
        null_slot = len(distinct)
        distinct.append(None)
        index = to_numpy(encoded.indices, null_slot)
        fed_distinct, bad_distinct, why_distinct, flags = self._run(schema, distinct, len(distinct))
        fed = fed_distinct[index]
        unseen = 0
        if flags is not None and flags.any():  # categorical: the engine flagged them
            unseen = int(np.bincount(index, minlength=len(distinct))[flags].sum())
        if not len(bad_distinct):
            return fed, bad_distinct, [], unseen
        reason_of = dict(zip(bad_distinct.tolist(), why_distinct, strict=True))
        is_bad = np.zeros(len(distinct), dtype=bool)
        is_bad[bad_distinct] = True
        bad = np.flatnonzero(is_bad[index]).astype(np.int64)
        return fed, bad, [reason_of[int(u)] for u in index[bad].tolist()], unseen
