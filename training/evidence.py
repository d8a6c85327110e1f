"""Release evidence: what the gate needs to run again, kept apart from what a server reads.

A version folder (the deployable artifact) holds the graph, the manifest (+ signature), the
parity report and the report's plots. The reference pipeline, the train/test rows, the
training record and the declaration are evidence: they may hold personal data and an
executable pickle, so they live under their own root (`--evidence DIR` or `s3://...`; by
default beside the registry, `<registry>-evidence/`), at `<root>/<name>/<version>/`, and the
manifest records each file's SHA-256 (the signature, over the manifest, covers them).

Reading checks the signature first (when keys are trusted), then each file's hash against the
manifest, and only then parses or unpickles the very bytes it hashed. The rows are Parquet
(reading them runs no code); object columns (raw, dirty cells: text, ints, floats, None in one
column) are stored one JSON value per cell, so each cell comes back with its type and bits.

This module is the one place evidence is written and read: the release (export/artifact.py),
`tabship parity` (parity_tests/gate.py) and `tabship export` call it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tabship.contract import object_store, signature
from tabship.contract.errors import ModelRefused
from tabship.contract.manifest import MANIFEST_FILE
from tabship.training.pickles import load_joblib

PIPELINE_FILE = "pipeline.joblib"
TRAIN_FILE = "train.parquet"
TEST_FILE = "test.parquet"
RECORD_FILE = "training.json"
DECLARATION_FILE = "declaration.toml"
FILES = (PIPELINE_FILE, TRAIN_FILE, TEST_FILE, RECORD_FILE, DECLARATION_FILE)
# versions written before the split kept these inside the version folder, unhashed
LEGACY_PIPELINE, LEGACY_ROWS = "reference.joblib", "reference_data.joblib"
SUFFIX = "-evidence"
MAX_FILE_BYTES = 4 << 30
_TARGET = "__tabship_target__"
_META = b"tabship.evidence"


class EvidenceError(RuntimeError):
    """One line naming the file and the problem (the CLIs print it and exit 2)."""


# --- where ------------------------------------------------------------------------------------


def default_root(registry_root: str | os.PathLike[str]) -> str:
    """Beside the registry, never inside it: `models` -> `models-evidence`,
    `s3://bucket/models` -> `s3://bucket/models-evidence`."""
    text = os.fspath(registry_root).rstrip("/")
    if object_store.is_object_uri(text):
        bucket, key = object_store.split(text)
        if not key:
            raise EvidenceError(
                f"{text}: a registry at a bucket's root has no place beside it for the "
                "evidence; pass --evidence s3://other-bucket/prefix (or a folder)"
            )
        return f"{bucket}/{key}{SUFFIX}"
    path = Path(text or ".").resolve()
    return str(path.parent / f"{path.name}{SUFFIX}")


def root_for_version(version_dir: Path) -> str:
    """The default evidence root of a local version folder (<registry>/<name>/<version>)."""
    return default_root(version_dir.resolve().parent.parent)


def location(root: str, name: str, version: str) -> str:
    return f"{root.rstrip('/')}/{name}/{version}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--evidence and --trust-legacy-evidence, for `tabship parity` and `tabship export`."""
    parser.add_argument(
        "--evidence",
        help="release evidence root: a folder or s3://bucket/prefix (default: beside the "
        "version's registry, <registry>-evidence)",
    )
    parser.add_argument(
        "--trust-legacy-evidence",
        action="store_true",
        help="read a version written before evidence was hashed (reference.joblib in the "
        "version folder): unpickled unverified, with a warning",
    )


# --- packing ----------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    """One raw cell as JSON text that reads back as the same Python value (type and bits)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | float | str):
        # floats as repr (every bit, -0.0 included), NaN and Infinity as JSON's extensions
        return json.dumps(value)
    raise EvidenceError(f"a cell of type {type(value).__name__} cannot be kept as evidence")


def _uncell(text: str) -> Any:
    return json.loads(text)


def frame_parquet(frame: pd.DataFrame, target: Any) -> bytes:
    """A set's rows and targets as Parquet; object columns as JSON cells. Read back and
    compared before it is returned, so what the gate reads later is what it was given."""
    if _TARGET in frame.columns:
        raise EvidenceError(f"column name {_TARGET!r} is reserved")
    columns: dict[str, pa.Array] = {}
    json_columns = []
    full = frame.reset_index(drop=True).copy()
    full[_TARGET] = np.asarray(target)
    for name in full.columns:
        series = full[name]
        if series.dtype == object:
            try:
                columns[str(name)] = pa.array([_cell(v) for v in series], type=pa.string())
            except EvidenceError as error:
                raise EvidenceError(f"column {name!r}: {error}") from None
            json_columns.append(str(name))
        else:
            columns[str(name)] = pa.Array.from_pandas(series)
    dtypes = {str(n): str(full[n].dtype) for n in full.columns if str(n) not in json_columns}
    meta = {"json_columns": json_columns, "dtypes": dtypes, "target": _TARGET}
    table = pa.table(columns).replace_schema_metadata({_META: json.dumps(meta).encode()})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    data = sink.getvalue()
    again, again_target = parquet_frame(data, "evidence")
    if not _same_frame(full.drop(columns=[_TARGET]), again) or not _same_array(
        np.asarray(target), again_target
    ):
        raise EvidenceError("the rows do not read back from Parquet exactly")
    return data


def parquet_frame(data: bytes, where: str) -> tuple[pd.DataFrame, np.ndarray]:
    try:
        table = pq.read_table(io.BytesIO(data))
        meta = json.loads((table.schema.metadata or {})[_META])
    except (pa.ArrowException, KeyError, ValueError) as error:
        raise EvidenceError(f"{where}: not tabship evidence rows ({error})") from None
    out: dict[str, Any] = {}
    for name in table.column_names:
        column = table.column(name)
        if name in meta["json_columns"]:
            out[name] = pd.Series([_uncell(v) for v in column.to_pylist()], dtype=object)
        else:
            out[name] = column.to_pandas().astype(meta["dtypes"][name])
    frame = pd.DataFrame(out)
    target = frame.pop(meta["target"]).to_numpy()
    return frame, target


def _same_frame(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return False
    return all(_same_array(a[c], b[c]) for c in a.columns)


def _same_array(a: Any, b: Any) -> bool:
    """Cell for cell: the same type and bits (object cells), or equal with one dtype."""
    a, b = pd.Series(a), pd.Series(b)
    if a.dtype != b.dtype or len(a) != len(b):
        return False
    if a.dtype == object:
        return all(
            type(_py(x)) is type(_py(y)) and _cell(x) == _cell(y) for x, y in zip(a, b, strict=True)
        )
    return bool(a.reset_index(drop=True).equals(b.reset_index(drop=True)))


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def pack(
    pipeline: Any, reference_data: Mapping[str, Any], record: Mapping[str, Any], declaration: Path
) -> dict[str, bytes]:
    """The evidence files' bytes (file name -> bytes), ready to hash and write."""
    pickled = io.BytesIO()
    joblib.dump(pipeline, pickled)
    return {
        PIPELINE_FILE: pickled.getvalue(),
        TRAIN_FILE: frame_parquet(reference_data["train_frame"], reference_data["train_target"]),
        TEST_FILE: frame_parquet(reference_data["test_frame"], reference_data["test_target"]),
        RECORD_FILE: (json.dumps(dict(record), indent=2, sort_keys=True) + "\n").encode(),
        DECLARATION_FILE: declaration.read_bytes(),
    }


def manifest_record(files: Mapping[str, bytes]) -> dict[str, Any]:
    """The manifest's `evidence` section: each file's SHA-256 and size."""
    return {
        "files": {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            for name, data in sorted(files.items())
        }
    }


# --- writing ----------------------------------------------------------------------------------


def write(root: str, name: str, version: str, files: Mapping[str, bytes]) -> str:
    """Writes a version's evidence once: a local folder appears whole (staging folder renamed
    into place), objects are created one by one and never replace anything. Returns where."""
    where = location(root, name, version)
    if object_store.is_object_uri(root):
        try:
            for file, data in files.items():
                object_store.put_new(f"{where}/{file}", data)
        except ModelRefused as error:
            raise EvidenceError(str(error)) from None
        return where
    target = Path(where)
    if target.exists():
        raise EvidenceError(f"{target} already exists; evidence is never overwritten")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{version}-", dir=target.parent))
    try:
        for file, data in files.items():
            with (staging / file).open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(staging, 0o700)  # private: rows of the training data
        os.rename(staging, target)  # fails when the target appeared meanwhile
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return where


# --- reading ----------------------------------------------------------------------------------


@dataclass
class Evidence:
    """A version's evidence, every byte checked against its manifest."""

    pipeline: Any
    reference_data: dict[str, Any]  # train/test frames and targets
    record: dict[str, Any]  # the training record (training.json)
    declaration: Path  # the declaration's verified text, in a private temporary file
    legacy: bool = False  # read from an old version folder (no hashes to check)


def _read_bytes(where: str, limit: int) -> bytes:
    if object_store.is_object_uri(where):
        try:
            return object_store.read(where, limit)
        except ModelRefused as error:
            raise EvidenceError(str(error)) from None
    try:
        with open(where, "rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise EvidenceError(f"{where}: no such file (is --evidence right?)") from None
    except OSError as error:
        raise EvidenceError(f"{where}: cannot read ({error.strerror or error})") from None
    if len(data) > limit:
        raise EvidenceError(f"{where}: larger than the manifest says")
    return data


def verified_manifest(version_dir: Path, trusted_keys: tuple[str, ...] = ()) -> dict[str, Any]:
    """manifest.json, its signature checked first when keys are trusted."""
    path = version_dir / MANIFEST_FILE
    try:
        data = path.read_bytes()
    except OSError as error:
        raise EvidenceError(f"{path}: cannot read ({error.strerror or error})") from None
    if trusted_keys:
        sig = version_dir / signature.SIGNATURE_FILE
        try:
            trusted = signature.load_trusted_keys(trusted_keys)
            if not sig.is_file():
                raise EvidenceError(f"{version_dir}: unsigned (no {sig.name}) and keys are trusted")
            signature.verify(data, sig.read_bytes(), trusted, str(sig))
        except ModelRefused as error:
            raise EvidenceError(str(error)) from None
    try:
        value = json.loads(data)
    except ValueError as error:
        raise EvidenceError(f"{path}: not JSON ({error})") from None
    if not isinstance(value, dict):
        raise EvidenceError(f"{path}: not a JSON object")
    return value


def read(
    version_dir: Path,
    root: str | None = None,
    *,
    manifest: Mapping[str, Any] | None = None,
    trusted_keys: tuple[str, ...] = (),
    allow_legacy: bool = False,
    warn: Callable[[str], None] | None = None,
) -> Evidence:
    """The evidence of the local version `version_dir`, from `root` (default: beside its
    registry). Nothing is parsed or unpickled before its SHA-256 matches the manifest (whose
    signature is checked first when `trusted_keys` are given).

    A version written before evidence had hashes (reference.joblib in the version folder) is
    refused unless `allow_legacy`: then it is read, with a warning, unverified."""
    if manifest is None:
        manifest = verified_manifest(version_dir, trusted_keys)
    section = manifest.get("evidence")
    if section is None:
        return _read_legacy(version_dir, allow_legacy, warn)
    files = section.get("files") if isinstance(section, dict) else None
    if not isinstance(files, dict) or set(files) != set(FILES):
        raise EvidenceError(f"{version_dir / MANIFEST_FILE}: evidence section is malformed")
    where = location(root or root_for_version(version_dir), manifest["name"], manifest["version"])
    checked: dict[str, bytes] = {}
    for file in FILES:  # every hash checked before any file is parsed
        entry = files[file]
        size = int(entry["bytes"])
        data = _read_bytes(f"{where}/{file}", min(size, MAX_FILE_BYTES))
        actual = hashlib.sha256(data).hexdigest()
        if actual != entry["sha256"]:
            raise EvidenceError(
                f"{where}/{file}: SHA-256 {actual[:16]}... is not the manifest's "
                f"{str(entry['sha256'])[:16]}...; refusing to load it"
            )
        checked[file] = data
    train, train_target = parquet_frame(checked[TRAIN_FILE], f"{where}/{TRAIN_FILE}")
    test, test_target = parquet_frame(checked[TEST_FILE], f"{where}/{TEST_FILE}")
    return Evidence(
        pipeline=load_joblib(checked[PIPELINE_FILE]),
        reference_data={
            "train_frame": train,
            "train_target": train_target,
            "test_frame": test,
            "test_target": test_target,
        },
        record=json.loads(checked[RECORD_FILE]),
        declaration=_private_copy(checked[DECLARATION_FILE]),
    )


def _private_copy(data: bytes) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="tabship-evidence-"))
    path = folder / DECLARATION_FILE
    path.write_bytes(data)
    return path


def _read_legacy(
    version_dir: Path, allow_legacy: bool, warn: Callable[[str], None] | None
) -> Evidence:
    pickles = [version_dir / LEGACY_PIPELINE, version_dir / LEGACY_ROWS]
    if not all(p.is_file() for p in pickles):
        raise EvidenceError(
            f"{version_dir}: the manifest names no evidence and the folder holds no "
            f"{LEGACY_PIPELINE}: nothing to gate or re-export"
        )
    if not allow_legacy:
        raise EvidenceError(
            f"{version_dir}: written before evidence was hashed ({LEGACY_PIPELINE} is in no "
            "manifest, and unpickling runs code); pass --trust-legacy-evidence if you know "
            "where this folder has been"
        )
    (warn or _stderr)(
        f"warning: {version_dir}: old layout: {LEGACY_PIPELINE} and {LEGACY_ROWS} are "
        "unpickled unverified (--trust-legacy-evidence); re-export it to move its evidence "
        "out of the version folder under hashes"
    )
    record_path = version_dir / RECORD_FILE
    try:
        record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    except ValueError as error:
        raise EvidenceError(f"{record_path}: not JSON ({error})") from None
    return Evidence(
        pipeline=load_joblib(pickles[0]),
        reference_data=load_joblib(pickles[1]),
        record=record,
        declaration=version_dir / DECLARATION_FILE,
        legacy=True,
    )


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)
