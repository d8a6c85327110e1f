"""Where a batch job may write: never over its input or its other output, and `--overwrite`
replaces only what `tabship score` wrote (its marker), never an unrelated file or folder.

Places are compared after resolving them (symlinks, `..`, relative paths; for URLs the
filesystem's own normalised path), so `out/../in.parquet` is the input and `--rejects` naming
OUTPUT is refused instead of two writers sharing one file.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

# a Parquet file's key-value metadata: written by tabship score, as scores or as rejects
PARQUET_KEY = b"tabship.score"
# a Dask output directory's marker file ("_" files are skipped by every Parquet reader)
DIRECTORY_MARKER = "_tabship"
MARKER_BYTES = 4096
# the columns a tabship score CSV carries (scores: binary and multiclass; rejects)
_SCORE_COLUMNS = {"model_name", "model_version", "label"}
_REJECT_COLUMNS = ["row", "column", "reason"]


class OutputRefused(Exception):
    """One line: which place, and why it is not written."""


def place(where: str | os.PathLike[str]) -> tuple[str, str]:
    """(protocol, absolute normalised path) of a local path or an fsspec URL."""
    text = os.fspath(where)
    if "://" in text and not text.startswith("file://"):
        try:
            import fsspec.core  # the dask extra: only URLs need it
        except ImportError:
            scheme, _, rest = text.partition("://")
            return scheme.lower(), "/" + os.path.normpath("/" + rest).strip("/")
        fs, path = fsspec.core.url_to_fs(text)
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        if protocol not in ("file", "local"):
            return protocol, "/" + path.strip("/")
        text = path
    return "file", os.path.realpath(text.removeprefix("file://"))


def _nested(inner: tuple[str, str], outer: tuple[str, str]) -> bool:
    return inner[0] == outer[0] and (inner[1] + "/").startswith(outer[1].rstrip("/") + "/")


def check_places(input_: str, output: str, rejects: str | None) -> None:
    """Refuses OUTPUT == REJECTS, OUTPUT or REJECTS == INPUT, and either inside the other."""
    source, target = place(input_), place(output)
    named = [("OUTPUT", output, target)]
    if rejects is not None:
        refused = place(rejects)
        if _nested(refused, target) or _nested(target, refused):
            same = "is" if refused == target else "overlaps"
            raise OutputRefused(f"--rejects {rejects} {same} OUTPUT {output}: refusing to write")
        named.append(("--rejects", rejects, refused))
    for label, text, where in named:
        if where == source:
            raise OutputRefused(f"{label} {text} is the input: refusing to write over it")
        if _nested(where, source):
            raise OutputRefused(f"{label} {text} is inside the input {input_}: refusing")
        if _nested(source, where):
            raise OutputRefused(f"{label} {text} holds the input {input_}: refusing")


def parquet_metadata(kind: str) -> dict[bytes, bytes]:
    return {PARQUET_KEY: kind.encode()}


def written_by_tabship(path: Path) -> bool:
    """A file `tabship score` wrote: Parquet with its metadata key, or a CSV whose header is
    one of its outputs' (CSV has nowhere else to carry a mark)."""
    if not path.is_file():
        return False
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
        if magic == b"PAR1":
            metadata = pq.read_schema(str(path)).metadata or {}
            return PARQUET_KEY in metadata
        with path.open(encoding="utf-8", newline="") as handle:
            header = next(csv.reader([handle.readline(1 << 20)]), [])
    except (OSError, UnicodeDecodeError, pa.ArrowException, csv.Error):
        return False
    return header[:3] == _REJECT_COLUMNS or _SCORE_COLUMNS <= set(header)


def directory_marker(kind: str) -> bytes:
    return (json.dumps({"written_by": "tabship score", "kind": kind}) + "\n").encode()


def directory_written_by_tabship(fs: Any, path: str) -> bool:
    marker = f"{path.rstrip('/')}/{DIRECTORY_MARKER}"
    try:
        if not fs.isfile(marker):
            return False
        with fs.open(marker, "rb") as handle:
            value = json.loads(handle.read(MARKER_BYTES))
    except (OSError, ValueError):
        return False
    return isinstance(value, dict) and value.get("written_by") == "tabship score"
