"""`tabship score --engine dask`: the same per-chunk scoring (runtime.batch.score_chunk) run on
the partitions of a dask.dataframe, on a dask.distributed cluster.

- The client verifies MODEL_URI first (runtime.artifact) and pins the file's SHA-256; each worker
  process then loads the model once from the same URI, verified against that pin, and keeps one
  session per model SHA-256 (a module-level cache) for every partition it scores.
- Input: any fsspec URL dask reads (read_parquet / read_csv); CSV columns are read as text,
  like the local engine, so the validator parses them with the server's rules.
- A first pass counts the rows of every partition, so rejects carry the same 0-based input row
  numbers as the local engine.
- Each partition writes `part-NNNNN.parquet` of the output (and of the rejects) through a
  temporary name, so a partition retried after a worker died replaces its file: no row lost,
  none duplicated. Everything is written to a staging directory renamed into place at the end.

pandas appears here only because dask.dataframe hands partitions over as pandas frames; the local
engine (runtime.batch) never imports it.
"""

from __future__ import annotations

import posixpath
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tabship.contract.progress import Progress
from tabship.runtime.batch import outputs
from tabship.runtime.batch.chunks import BatchError, Summary, check_columns, score_chunk
from tabship.runtime.batch.rejects import ChunkValidator
from tabship.runtime.model.artifact import load_artifact
from tabship.runtime.model.session import Model
from tabship.runtime.settings import Settings

_MODELS: dict[str, tuple[Model, ChunkValidator]] = {}
_MODELS_LOCK = threading.Lock()
PART = "part-{:05d}.parquet"


def worker_model(settings: Settings, sha256: str, threads: int) -> tuple[Model, ChunkValidator]:
    """The process's model for `sha256`, loaded and verified on first use."""
    with _MODELS_LOCK:
        cached = _MODELS.get(sha256)
        if cached is None:
            pinned = Settings(**{**settings.__dict__, "model_sha256": sha256})
            model = Model(load_artifact(pinned), threads=threads)
            cached = _MODELS[sha256] = (model, ChunkValidator(model.inputs))
        return cached


def _filesystem(url: str) -> tuple[Any, str]:
    import fsspec.core

    fs, path = fsspec.core.url_to_fs(url)
    return fs, path


def _write_part(fs: Any, directory: str, number: int, table: pa.Table) -> None:
    final = posixpath.join(directory, PART.format(number))
    temporary = posixpath.join(directory, f".{PART.format(number)}.{uuid.uuid4().hex}.tmp")
    with fs.open(temporary, "wb") as handle:
        pq.write_table(table, handle, compression="zstd")
    fs.mv(temporary, final)


def _score_partition(
    frame: Any,
    number: int,
    first_row: int,
    settings: Settings,
    sha256: str,
    threads: int,
    keys: Sequence[str],
    out_url: str,
    rejects_url: str | None,
) -> dict[str, Any]:
    model, validator = worker_model(settings, sha256, threads)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    # pandas' Arrow-backed text arrives as large_string: the local engine's type is string.
    table = table.cast(
        pa.schema(
            [
                f.with_type(pa.string()) if pa.types.is_large_string(f.type) else f
                for f in table.schema
            ]
        )
    )
    scored, rejects, counts = score_chunk(model, validator, table, keys, first_row)
    fs, out_dir = _filesystem(out_url)
    _write_part(fs, out_dir, number, scored)
    if rejects_url is not None:
        rfs, rejects_dir = _filesystem(rejects_url)
        _write_part(rfs, rejects_dir, number, rejects)
    return {
        "rows": counts.rows,
        "scored": counts.scored,
        "rejected": counts.rejected,
        "problems": counts.problems,
        "unseen": counts.unseen,
    }


def _is_csv(url: str) -> bool:
    return url.lower().rstrip("/").endswith((".csv", ".csv.gz", ".tsv"))


def read_input(url: str, columns: Sequence[str]) -> Any:
    import dask.dataframe as dd

    if _is_csv(url):
        # Every column as text and only an empty cell as null, like the local engine.
        return dd.read_csv(
            url,
            dtype=str,
            usecols=lambda c: c in set(columns),
            keep_default_na=False,
            na_values=[""],
            blocksize="16MB",
        )
    # One partition per row group: each worker reads its own part of a large file, rather than
    # one worker reading the file and shipping pieces to the others.
    return dd.read_parquet(url, columns=list(columns), split_row_groups=True)


def _columns_of(url: str) -> tuple[str, ...]:
    import dask.dataframe as dd

    if _is_csv(url):
        import pyarrow.csv as pacsv

        fs, path = _filesystem(url)
        with fs.open(path, "rb", compression="infer") as handle:
            head = handle.read(1 << 20)
        if head.rfind(b"\n") > 0:
            head = head[: head.rfind(b"\n") + 1]  # whole rows only
        # pyarrow parses bytes in memory, never a Python file object (see chunks.open_csv)
        options = pacsv.ReadOptions(block_size=1 << 20, use_threads=False)  # see chunks
        return tuple(pacsv.open_csv(pa.BufferReader(head), read_options=options).schema.names)
    return tuple(dd.read_parquet(url).columns)


def _prepare_output(url: str, overwrite: bool) -> tuple[Any, str, str]:
    fs, path = _filesystem(url)
    path = path.rstrip("/")
    if fs.exists(path):
        if not overwrite:
            raise BatchError(f"{url}: already exists (use --overwrite to replace it)")
        if not outputs.directory_written_by_tabship(fs, path):
            raise BatchError(
                f"{url}: not written by tabship score (no {outputs.DIRECTORY_MARKER} marker); "
                "--overwrite replaces only its own outputs"
            )
    parent, name = posixpath.split(path)
    staging = posixpath.join(parent, f".{name}.partial-{uuid.uuid4().hex[:12]}")
    fs.makedirs(staging, exist_ok=False)
    return fs, path, staging


def _commit(fs: Any, staging: str, final: str, overwrite: bool, kind: str) -> None:
    """The complete staging directory, marked as tabship's, takes the place of `final`; a
    replaced output (checked as tabship's in _prepare_output) is moved aside first and
    deleted only once the new one is in place."""
    for leftover in fs.glob(posixpath.join(staging, ".*.tmp")):
        fs.rm(leftover)
    fs.pipe_file(posixpath.join(staging, outputs.DIRECTORY_MARKER), outputs.directory_marker(kind))
    replaced = None
    if overwrite and fs.exists(final):
        parent, name = posixpath.split(final)
        replaced = posixpath.join(parent, f".{name}.replaced-{uuid.uuid4().hex[:12]}")
        fs.mv(final, replaced, recursive=True)
    fs.mv(staging, final, recursive=True)
    if replaced is not None:
        fs.rm(replaced, recursive=True)


def score_dask(
    settings: Settings,
    input_url: str,
    output_url: str,
    *,
    rejects: str | None = None,
    keys: Sequence[str] = (),
    scheduler: str | None = None,
    partitions: int | None = None,
    n_workers: int = 2,
    overwrite: bool = False,
    allow_absent: bool = False,
    ort_threads: int = 1,
    progress: bool = True,
) -> Summary:
    """Scores `input_url` into partitioned Parquet at `output_url` (and `rejects`)."""
    from dask.delayed import delayed
    from distributed import Client, LocalCluster, as_completed

    started = time.monotonic()
    try:
        outputs.check_places(input_url, output_url, rejects)
    except outputs.OutputRefused as error:
        raise BatchError(str(error)) from None
    artifact = load_artifact(settings)  # refuse early, in the client
    inputs = artifact.manifest["inputs"]
    validator = ChunkValidator(inputs)
    try:
        available = _columns_of(input_url)
    except FileNotFoundError:
        raise BatchError(f"{input_url}: no such file or directory") from None
    except (OSError, ValueError, pa.ArrowException) as error:
        raise BatchError(f"{input_url}: cannot read ({str(error).splitlines()[0]})") from None
    missing_keys = [k for k in keys if k not in available]
    if missing_keys:
        raise BatchError(f"{input_url}: key column(s) {', '.join(missing_keys)} not in the input")
    check_columns(validator, available, input_url, allow_absent)
    wanted = [c for c in dict.fromkeys([*keys, *validator.names]) if c in available]
    frame = read_input(input_url, wanted)
    if partitions:
        frame = frame.repartition(npartitions=partitions)

    # every output refusal before a cluster is started or a staging folder left behind
    fs, final_out, staging_out = _prepare_output(output_url, overwrite)
    staged_rejects = None
    if rejects is not None:
        try:
            rfs, final_rejects, staging_rejects = _prepare_output(rejects, overwrite)
        except BaseException:
            fs.rm(staging_out, recursive=True)
            raise
        staged_rejects = (rfs, final_rejects, staging_rejects)
    summary = Summary(absent_columns=tuple(n for n in validator.names if n not in available))
    cluster = None
    try:
        if scheduler is None:
            cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                protocol="tcp",
                dashboard_address=None,
            )
        with Client(cluster if cluster is not None else scheduler) as client:
            lengths = client.compute(frame.map_partitions(len)).result()
            offsets = [0]
            for length in lengths.tolist():
                offsets.append(offsets[-1] + int(length))
            parts = frame.to_delayed()
            out_url = _url_like(output_url, staging_out)
            rejects_url = (
                _url_like(rejects, staged_rejects[2]) if rejects and staged_rejects else None
            )
            tasks = [
                delayed(_score_partition, pure=False)(
                    part,
                    i,
                    offsets[i],
                    settings,
                    artifact.sha256,
                    ort_threads,
                    tuple(keys),
                    out_url,
                    rejects_url,
                )
                for i, part in enumerate(parts)
            ]
            futures = client.compute(tasks)
            with Progress("scoring partitions", len(futures)) if progress else _Quiet() as bar:
                for future in as_completed(futures):
                    counts = future.result()
                    summary.add(
                        Summary(
                            rows=counts["rows"],
                            scored=counts["scored"],
                            rejected=counts["rejected"],
                            problems=counts["problems"],
                            unseen=counts["unseen"],
                        )
                    )
                    bar.advance()
        _commit(fs, staging_out, final_out, overwrite, "scores")
        if staged_rejects is not None:
            _commit(staged_rejects[0], staged_rejects[2], staged_rejects[1], overwrite, "rejects")
    except BaseException:
        fs.rm(staging_out, recursive=True)
        if staged_rejects is not None:
            staged_rejects[0].rm(staged_rejects[2], recursive=True)
        raise
    finally:
        if cluster is not None:
            cluster.close()
    summary.seconds = time.monotonic() - started
    return summary


def _url_like(original: str, path: str) -> str:
    """`path` (from url_to_fs) with the original URL's protocol, for the workers."""
    if "://" in original:
        protocol = original.split("://", 1)[0]
        return f"{protocol}://{path}"
    return path


class _Quiet:
    def advance(self, amount: int = 1) -> None:
        pass

    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: object) -> None:
        pass
