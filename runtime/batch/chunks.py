"""Chunked local batch scoring: CSV / Parquet in, Parquet / CSV out, in bounded memory.

The input is read chunk by chunk (a pyarrow.dataset scanner for Parquet, pyarrow.csv.open_csv
for CSV); each chunk is validated with the server's rules (runtime.batch_schema over
runtime.schema), scored by the one verified model (runtime.model), and appended to the output
(a temporary file renamed into place at the end). Rows that fail validation go to the rejects
file with their 0-based row number in the input, the column and the reason.

Chunks are validated and scored on a small thread pool (onnxruntime and most of pyarrow release
the GIL); at most `workers + 1` chunks are in flight, which with the reader's one chunk of
read-ahead is what bounds memory (docs/batch.md).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tabship.contract.progress import Progress
from tabship.contract.target import BatchColumn, Target
from tabship.runtime.batch import arrow_columns, outputs
from tabship.runtime.batch.contributions import contribution_arrays, with_contributions
from tabship.runtime.batch.rejects import ChunkValidator, from_numpy, strings
from tabship.runtime.explain.explainer import Contributions
from tabship.runtime.model.session import Model, Scores

# Measured (bench/bench_batch_tuning.py, docs/batch.md): on 2 CPUs 32,768-row chunks with one
# chunk in flight per CPU on the one shared session were fastest or tied for Parquet and CSV;
# a session per worker gained nothing, more workers than CPUs nothing.
DEFAULT_CHUNK_ROWS = 32_768


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return max(os.cpu_count() or 1, 1)


DEFAULT_WORKERS = available_cpus()
FORMATS = ("parquet", "csv")
_CSV_BYTES_PER_ROW_GUESS = 160
# pyarrow's CSV block: at least one long row (a block must hold a whole row), at most what
# keeps a chunk's memory bounded whatever the rows look like (block_size is an int32 too)
_CSV_MIN_BLOCK = 1 << 16
CSV_MAX_BLOCK = 16 << 20


class BatchError(Exception):
    """A problem with the job's inputs or outputs, reported as one line (no traceback)."""


@dataclass
class Summary:
    rows: int = 0
    scored: int = 0
    rejected: int = 0
    problems: int = 0
    seconds: float = 0.0
    unseen: dict[str, int] = field(default_factory=dict)
    absent_columns: tuple[str, ...] = ()

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        return (
            f"rows {self.rows}, scored {self.scored}, rejected {self.rejected} "
            f"({self.problems} problem(s)), {self.seconds:.2f} s, {self.rows_per_s:,.0f} rows/s"
        )

    def add(self, other: Summary) -> None:
        self.rows += other.rows
        self.scored += other.scored
        self.rejected += other.rejected
        self.problems += other.problems
        for name, count in other.unseen.items():
            self.unseen[name] = self.unseen.get(name, 0) + count


# --- one chunk ---------------------------------------------------------------------------------


def output_schema(keys: pa.Schema, target: Target) -> pa.Schema:
    """keys, the target's answer columns (Target.batch_columns), model name and version."""
    return pa.schema(
        [
            *keys,
            *arrow_columns.fields(target.empty_columns(keys.names)),
            pa.field("model_name", pa.string()),
            pa.field("model_version", pa.string()),
        ]
    )


def rejects_schema(keys: pa.Schema) -> pa.Schema:
    return pa.schema(
        [
            pa.field("row", pa.int64()),
            pa.field("column", pa.string()),
            pa.field("reason", pa.string()),
            *keys,
        ]
    )


def score_chunk(
    model: Model,
    validator: ChunkValidator,
    batch: pa.RecordBatch | pa.Table,
    keys: Sequence[str],
    first_row: int,
    explain: bool = False,
) -> tuple[pa.Table, pa.Table, Summary]:
    """(scored rows, rejects, counts) for one chunk whose first row is input row `first_row`;
    with `explain`, the rows' contributions after the other columns."""
    result = validator.validate(batch)
    key_columns = [batch.column(k) for k in keys]
    key_schema = pa.schema([batch.schema.field(k) for k in keys])
    n_good = result.n_good
    if n_good == result.n_rows:
        kept = key_columns
    else:
        where = from_numpy(np.flatnonzero(result.good).astype(np.int64), pa.int64())
        kept = [column.take(where) for column in key_columns]
    scores: Scores | None = None
    explained: Contributions | None = None
    if n_good and explain:
        scores, x = model.score_explained(result.feeds)
        assert model.explainer is not None
        explained = model.explainer.by_column(x)
    elif n_good:
        scores = model.score(result.feeds)
    scored = _scored(model, scores, kept, key_schema)
    if explain:
        columns = [*scored.columns, *contribution_arrays(explained, model)]
        scored = pa.Table.from_arrays(columns, schema=with_contributions(scored.schema, model))
    return scored, *_rejects_and_counts(result, key_columns, key_schema, first_row)


def _scored(
    model: Model, scores: Scores | None, kept: list[Any], key_schema: pa.Schema
) -> pa.Table:
    target, taken = model.target, key_schema.names
    if scores is None:
        answer, n = target.empty_columns(taken), 0
    else:
        answer = target.batch_columns(scores.probabilities, scores.labels, scores.decisions, taken)
        n = len(scores.labels)
    return pa.Table.from_arrays(
        [
            *kept,
            *map(_array, answer),
            strings(model.name, n),
            strings(model.version, n),
        ],
        schema=output_schema(key_schema, target),
    )


def _array(column: BatchColumn) -> pa.Array:
    """A scored column (no nulls), built without pa.array, which imports pandas."""
    if column.type == "string":
        return strings(list(column.values))
    kind = arrow_columns.ARROW_TYPES[column.type]
    return from_numpy(np.asarray(column.values, dtype=np.dtype(column.type)), kind)


def _rejects_and_counts(
    result: Any, key_columns: list[Any], key_schema: pa.Schema, first_row: int
) -> tuple[pa.Table, Summary]:
    problem_rows = from_numpy(result.problem_rows, pa.int64())
    rejects = pa.Table.from_arrays(
        [
            from_numpy(result.problem_rows + first_row, pa.int64()),
            strings(result.problem_columns),
            strings(result.problem_reasons),
            *[column.take(problem_rows) for column in key_columns],
        ],
        schema=rejects_schema(key_schema),
    )
    counts = Summary(
        rows=result.n_rows,
        scored=result.n_good,
        rejected=result.n_rows - result.n_good,
        problems=len(result.problem_reasons),
        unseen=dict(result.unseen),
    )
    return rejects, counts


# --- reading -----------------------------------------------------------------------------------


@dataclass
class Source:
    batches: Iterator[pa.RecordBatch]
    columns: tuple[str, ...]
    total_rows: int | None


def _check_keys(keys: Sequence[str], available: Sequence[str], where: str) -> None:
    missing = [k for k in keys if k not in available]
    if missing:
        raise BatchError(f"{where}: key column(s) {', '.join(missing)} not in the input")


def parquet_files(path: Path) -> list[Path]:
    """A file, or a directory's Parquet files (recursive, sorted; hidden and `_` files skipped,
    as pyarrow.dataset discovery does): row numbers count through them in this order."""
    if path.is_file():
        return [path]
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
    )


def open_parquet(path: Path, wanted: Sequence[str], chunk_rows: int) -> Source:
    # pyarrow.parquet, not pyarrow.dataset: importing the latter imports pandas.
    files = parquet_files(path)
    if not files:
        raise BatchError(f"{path}: no Parquet files in the directory")
    try:
        opened = [pq.ParquetFile(str(f)) for f in files]
    except (OSError, pa.ArrowException) as error:
        raise BatchError(f"{path}: cannot read as Parquet ({_first_line(error)})") from None
    names = tuple(opened[0].schema_arrow.names)
    _refuse_unusable_columns(path, opened[0].schema_arrow, wanted)
    for f, handle in zip(files[1:], opened[1:], strict=True):
        if tuple(handle.schema_arrow.names) != names:
            raise BatchError(f"{f}: its columns differ from those of {files[0]}")
    total = sum(handle.metadata.num_rows for handle in opened)
    columns = [c for c in dict.fromkeys(wanted) if c in names]

    def batches() -> Iterator[pa.RecordBatch]:
        for handle in opened:
            yield from handle.iter_batches(batch_size=chunk_rows, columns=columns, use_threads=True)
            handle.close()

    return Source(_guarded(batches(), path), names, total)


def _refuse_unusable_columns(path: Path, schema: pa.Schema, wanted: Sequence[str]) -> None:
    """Repeated names are ambiguous and nested values have no row form a model reads: both are
    refused up front, naming the column, rather than failing mid-file."""
    names = list(schema.names)
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise BatchError(f"{path}: column name(s) appear more than once: {', '.join(repeated)}")
    for column in schema:
        if column.name in wanted and pa.types.is_nested(column.type):
            raise BatchError(
                f"{path}: column {column.name!r} holds {column.type}; expected numbers or text"
            )


def _csv_block_size(path: Path, chunk_rows: int) -> int:
    """Bytes per block for about `chunk_rows` rows, guessed from the file's first 64 KiB and
    kept within [64 KiB, CSV_MAX_BLOCK] (longer rows: a block holds fewer of them)."""
    with path.open("rb") as handle:
        sample = handle.read(_CSV_MIN_BLOCK)
    lines = max(sample.count(b"\n") - 1, 1)
    per_row = len(sample) / lines if sample.count(b"\n") > 1 else _CSV_BYTES_PER_ROW_GUESS
    return min(max(int(per_row * chunk_rows), _CSV_MIN_BLOCK), CSV_MAX_BLOCK)


def _csv_header(path: Path) -> list[str]:
    """The column names, from the first line only, read by pyarrow's own file (decompressed
    as the reader will) and parsed from bytes: never a Python file object in pyarrow, which
    could abort the interpreter at exit (an empty or UTF-16 file: 2 and 10 runs in 20)."""
    head = b""
    with pa.input_stream(str(path), compression="detect") as stream:
        while b"\n" not in head and len(head) < CSV_MAX_BLOCK:
            piece = stream.read(_CSV_MIN_BLOCK)
            if not piece:
                break
            head += piece
    first = head.split(b"\n", 1)[0] + b"\n" if head else b""
    # on this thread: a pyarrow worker releasing the Python-owned buffer would need the GIL,
    # and one doing so while the interpreter exits aborts the process
    options = pacsv.ReadOptions(use_threads=False)
    return list(pacsv.read_csv(pa.BufferReader(first), read_options=options).schema.names)


def open_csv(path: Path, wanted: Sequence[str], chunk_rows: int) -> Source:
    """Every column the job reads is read as text: the validator parses numbers (as the server
    does with JSON text), so one odd cell never stops the file mid-way."""
    try:
        header = _csv_header(path)
    except UnicodeDecodeError:
        raise BatchError(f"{path}: cannot read as CSV (its header is not UTF-8 text)") from None
    except (OSError, pa.ArrowException) as error:
        raise BatchError(f"{path}: cannot read as CSV ({_first_line(error)})") from None
    _refuse_unusable_columns(path, pa.schema([(name, pa.string()) for name in header]), wanted)
    columns = [c for c in dict.fromkeys(wanted) if c in header]
    try:
        reader = pacsv.open_csv(
            str(path),
            read_options=pacsv.ReadOptions(block_size=_csv_block_size(path, chunk_rows)),
            convert_options=pacsv.ConvertOptions(
                include_columns=columns,
                column_types={c: pa.string() for c in columns},
                # Only an empty cell is null: "n/a" or "NaN" are text, as in a JSON request.
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    except (OSError, pa.ArrowException) as error:
        raise BatchError(f"{path}: cannot read as CSV ({_first_line(error)})") from None
    return Source(_guarded(_rechunk(reader, chunk_rows), path), tuple(header), None)


def _rechunk(batches: Any, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        for start in range(0, batch.num_rows, chunk_rows):
            yield batch.slice(start, chunk_rows)


def _guarded(batches: Any, path: Path) -> Iterator[pa.RecordBatch]:
    iterator = iter(batches)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except (OSError, pa.ArrowException) as error:
            raise BatchError(f"{path}: read failed ({_first_line(error)})") from None
        yield batch


def input_format(path: Path) -> str:
    if path.is_dir():
        return "parquet"
    suffix = "".join(path.suffixes[-2:]).lower()
    if suffix.endswith((".csv", ".csv.gz", ".tsv")):
        return "csv"
    if suffix.endswith((".parquet", ".pq", ".parq")):
        return "parquet"
    with path.open("rb") as handle:
        return "parquet" if handle.read(4) == b"PAR1" else "csv"


def open_input(path: Path, wanted: Sequence[str], chunk_rows: int) -> Source:
    if not path.exists():
        raise BatchError(f"{path}: no such file or directory")
    try:
        kind = input_format(path)
    except OSError as error:
        raise BatchError(f"{path}: cannot read ({error.strerror or error})") from None
    if kind == "csv":
        return open_csv(path, wanted, chunk_rows)
    return open_parquet(path, wanted, chunk_rows)


# --- writing -----------------------------------------------------------------------------------


def output_format(path: Path, explicit: str | None = None) -> str:
    if explicit:
        return explicit
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq", ".parq"):
        return "parquet"
    raise BatchError(f"{path}: cannot tell the output format from the suffix; use --format")


class Sink:
    """Appends tables to a temporary file of its own beside `path`; `close` finishes it and
    `commit` renames it into place (after every sink of the job is closed). `--overwrite`
    replaces only a file tabship score wrote."""

    def __init__(
        self, path: Path, schema: pa.Schema, fmt: str, *, overwrite: bool, kind: str = "scores"
    ) -> None:
        self.path = path
        if path.exists() or path.is_symlink():
            if not overwrite:
                raise BatchError(f"{path}: already exists (use --overwrite to replace it)")
            if not outputs.written_by_tabship(path):
                raise BatchError(
                    f"{path}: not written by tabship score; --overwrite replaces only its own "
                    "outputs"
                )
        if not path.parent.is_dir():
            raise BatchError(f"{path.parent}: output directory does not exist")
        self.rows = 0
        try:
            descriptor, name = tempfile.mkstemp(
                dir=path.parent, prefix=f".{path.name}.", suffix=".partial"
            )
            os.close(descriptor)
            self.temporary = Path(name)
            if fmt == "csv":
                self._writer: Any = pacsv.CSVWriter(str(self.temporary), schema)
            else:
                marked = schema.with_metadata(outputs.parquet_metadata(kind))
                self._writer = pq.ParquetWriter(str(self.temporary), marked, compression="zstd")
        except (OSError, pa.ArrowException) as error:
            raise BatchError(f"{path}: cannot write ({_first_line(error)})") from None

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            self._writer.write_table(table)
            self.rows += table.num_rows

    def close(self) -> None:
        self._writer.close()
        os.chmod(self.temporary, 0o644)  # mkstemp's 0600, as any other output would not be

    def commit(self) -> None:
        os.replace(self.temporary, self.path)

    def abort(self) -> None:
        try:
            self._writer.close()
        finally:
            self.temporary.unlink(missing_ok=True)


# --- the job -----------------------------------------------------------------------------------


def score_file(
    model: Model,
    input_path: Path,
    output_path: Path,
    *,
    rejects_path: Path | None = None,
    keys: Sequence[str] = (),
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    workers: int = DEFAULT_WORKERS,
    output_fmt: str | None = None,
    rejects_fmt: str | None = None,
    overwrite: bool = False,
    allow_absent: bool = False,
    progress: bool = True,
    explain: bool = False,
) -> Summary:
    """Scores `input_path` into `output_path` (and rejects into `rejects_path`, when given).

    A model input absent from the file is refused (BatchError naming it) unless `allow_absent`
    and the column is nullable: then every row gets it as missing, as a JSON row without the key.
    """
    if chunk_rows < 1:
        raise BatchError("--chunk-rows must be >= 1")
    started = time.monotonic()
    validator = ChunkValidator(model.inputs)
    fmt = output_format(output_path, output_fmt)
    source = open_input(input_path, [*keys, *validator.names], chunk_rows)
    _check_keys(keys, source.columns, str(input_path))
    check_columns(validator, source.columns, str(input_path), allow_absent)
    summary = Summary(absent_columns=tuple(n for n in validator.names if n not in source.columns))
    key_schema = _key_schema(source, keys)
    outputs.check_places(
        str(input_path), str(output_path), None if rejects_path is None else str(rejects_path)
    )
    sink_schema = output_schema(key_schema, model.target)
    if explain:
        sink_schema = with_contributions(sink_schema, model)
    sink = Sink(output_path, sink_schema, fmt, overwrite=overwrite)
    reject_sink = None
    try:
        if rejects_path is not None:
            reject_sink = Sink(
                rejects_path,
                rejects_schema(key_schema),
                output_format(rejects_path, rejects_fmt),
                overwrite=overwrite,
                kind="rejects",
            )
        with (
            ThreadPoolExecutor(max(workers, 1), thread_name_prefix="tabship-score") as pool,
            Progress("scoring rows", source.total_rows) if progress else _NoProgress() as bar,
        ):
            pending: deque[Future[tuple[pa.Table, pa.Table, Summary]]] = deque()

            def drain_one() -> None:
                scored, rejects, counts = pending.popleft().result()
                sink.write(scored.cast(sink_schema))
                if reject_sink is not None:
                    reject_sink.write(rejects.cast(reject_schema))
                summary.add(counts)
                bar.advance(counts.rows)

            reject_schema = rejects_schema(key_schema)
            first_row = 0
            for batch in source.batches:
                pending.append(
                    pool.submit(score_chunk, model, validator, batch, keys, first_row, explain)
                )
                first_row += batch.num_rows
                while len(pending) > max(workers, 1):
                    drain_one()
            while pending:
                drain_one()
        # both complete before either replaces anything
        finished = [sink] if reject_sink is None else [sink, reject_sink]
        for each in finished:
            each.close()
        for each in finished:
            each.commit()
    except BaseException:
        sink.abort()
        if reject_sink is not None:
            reject_sink.abort()
        raise
    summary.seconds = time.monotonic() - started
    return summary


def check_columns(
    validator: ChunkValidator, available: Sequence[str], where: str, allow_absent: bool
) -> None:
    required = validator.missing_required(available)
    if required:
        raise BatchError(
            f"{where}: required column(s) missing: {', '.join(required)} (not nullable)"
        )
    absent = [name for name in validator.names if name not in available]
    if absent and not allow_absent:
        raise BatchError(
            f"{where}: column(s) the model reads are missing: {', '.join(absent)} "
            "(--allow-absent-columns feeds them as missing)"
        )


def _key_schema(source: Source, keys: Sequence[str]) -> pa.Schema:
    if not keys:
        return pa.schema([])
    first = next(source.batches, None)
    if first is None:
        return pa.schema([pa.field(k, pa.string()) for k in keys])
    rest = source.batches

    def again() -> Iterator[pa.RecordBatch]:
        yield first
        yield from rest

    source.batches = again()
    return pa.schema([first.schema.field(k) for k in keys])


class _NoProgress:
    def advance(self, amount: int = 1) -> None:
        pass

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
