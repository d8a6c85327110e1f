"""Where capture files go: a local folder or an object-store prefix (s3://, the s3 extra).
Each file is created once under a new name, never overwritten: locally written to a hidden
temporary name and linked into place (readers such as pyarrow skip `.` and `_` names), in a
bucket put with create-only semantics."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Protocol

from tabship.contract import object_store
from tabship.contract.errors import ModelRefused

MARKER = "_tabship_capture.json"  # tells `tabship train --data` the folder is a capture
SUFFIX = ".parquet"


class CaptureStore(Protocol):
    where: str

    def put(self, name: str, data: bytes) -> None: ...

    def used_bytes(self) -> int | None:
        """Bytes the capture files take now, when the store can tell (else None)."""
        ...


class CaptureError(Exception):
    """The capture target cannot be used (bad URI, folder not creatable, ...)."""


class LocalFolder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / f".tabship-probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise CaptureError(f"{path}: cannot write there ({error.strerror or error})") from None

    def put(self, name: str, data: bytes) -> None:
        temporary = self.path / f".{name}.tmp"
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, self.path / name)  # fails rather than replace a file
        finally:
            temporary.unlink()

    def used_bytes(self) -> int:
        total = 0
        for entry in os.scandir(self.path):
            if entry.name.endswith(SUFFIX) and not entry.name.startswith((".", "_")):
                with contextlib.suppress(OSError):  # removed meanwhile
                    total += entry.stat().st_size
        return total


class ObjectFolder:
    def __init__(self, uri: str, *, connect_timeout_s: float, timeout_s: float) -> None:
        try:
            self.bucket, prefix = object_store.split(uri)
            self._obstore = object_store.library()
            self._store = object_store.open_store(
                self.bucket, connect_timeout_s=connect_timeout_s, timeout_s=timeout_s
            )
        except ModelRefused as error:
            raise CaptureError(str(error)) from None
        self.prefix = prefix.strip("/")
        self.where = uri

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def put(self, name: str, data: bytes) -> None:
        self._obstore.put(self._store, self._key(name), data, mode="create")

    def used_bytes(self) -> int | None:
        return None  # listing a bucket per check costs requests: this process counts its own


def open_capture_store(uri: str, *, connect_timeout_s: float, timeout_s: float) -> CaptureStore:
    if object_store.is_object_uri(uri):
        return ObjectFolder(uri, connect_timeout_s=connect_timeout_s, timeout_s=timeout_s)
    if "://" in uri and not uri.startswith("file://"):
        raise CaptureError(f"{uri}: use a folder path, file:// or s3://")
    return LocalFolder(Path(uri.removeprefix("file://")))


def write_marker(store: CaptureStore, data: bytes) -> None:
    """The folder's description, written by the first server that captures into it."""
    try:
        store.put(MARKER, data)
    except FileExistsError:
        pass
    except Exception as error:
        if type(error).__name__ != "AlreadyExistsError":  # obstore's, for an existing key
            raise


def describe(store: Any) -> str:
    return str(getattr(store, "where", store))
