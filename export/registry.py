"""The model registry: models/<name>/<version>/, immutable, written atomically; on a local
disk (Registry) or in object storage (ObjectRegistry, for s3://bucket/prefix roots)."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from tabship.contract import object_store
from tabship.contract.errors import ModelRefused
from tabship.contract.manifest import MANIFEST_FILE
from tabship.training import evidence

DEFAULT_ROOT = Path("models")
VERSION_PATTERN = re.compile(r"^[0-9]{8}T[0-9]{12}Z-[0-9a-f]{8}$")
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_STAMP = "%Y%m%dT%H%M%S%fZ"


class RegistryError(RuntimeError):
    pass


def default_root() -> Path:
    return Path(os.environ.get("TABSHIP_REGISTRY", DEFAULT_ROOT))


class Registry:
    def __init__(
        self, root: str | os.PathLike[str] | None = None, evidence_root: str | None = None
    ) -> None:
        self.root = Path(root) if root is not None else default_root()
        # release evidence (pipeline, rows): never inside the registry servers read
        self.evidence_root = evidence_root or evidence.default_root(self.root)
        if not object_store.is_object_uri(self.evidence_root):
            inside = Path(self.evidence_root).resolve().is_relative_to(self.root.resolve())
            if inside:
                raise RegistryError(
                    f"--evidence {self.evidence_root} is inside the registry {self.root}: "
                    "evidence (training rows, the pickled pipeline) stays apart from what "
                    "servers read"
                )

    def models(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def versions(self, name: str) -> list[str]:
        """Oldest first: version ids sort in creation order."""
        folder = self.root / name
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if VERSION_PATTERN.match(p.name))

    def location(self, name: str, version: str) -> str:
        return str(self.root / name / version)

    def read_manifest(self, name: str, version: str) -> dict[str, Any]:
        """Raises OSError or ValueError when it cannot be read."""
        value = json.loads((self.root / name / version / MANIFEST_FILE).read_text())
        if not isinstance(value, dict):
            raise ValueError("manifest.json is not a JSON object")
        return value

    def publish(self, folder: Path) -> str:
        """Where a version written by write_version lives for its readers (here: in place)."""
        return str(folder)

    def latest(self, name: str) -> Path:
        versions = self.versions(name)
        if not versions:
            raise RegistryError(f"no versions of model {name!r} under {self.root}")
        return self.root / name / versions[-1]

    def new_version_id(self, name: str, content_hash: str, now: datetime | None = None) -> str:
        """UTC time to the microsecond + 8 hex of the content; strictly after every existing id."""
        existing = self.versions(name)
        moment = now or datetime.now(UTC)
        if existing:
            # One microsecond after the newest id if the clock is not past it (same microsecond,
            # or a clock that went back): waiting for the clock could take hours.
            newest = datetime.strptime(existing[-1][:22], _STAMP).replace(tzinfo=UTC)
            moment = max(moment, newest + timedelta(microseconds=1))
        return f"{moment.strftime(_STAMP)}-{content_hash[:8]}"

    def write_version(self, name: str, version: str, fill: Callable[[Path], None]) -> Path:
        """Creates <name>/<version> from what `fill` writes into a private temporary folder,
        then renames it into place. An existing version is never touched; a failure in `fill`
        leaves nothing behind."""
        if not NAME_PATTERN.match(name):
            raise RegistryError(f"model name {name!r} must match {NAME_PATTERN.pattern}")
        if not VERSION_PATTERN.match(version):
            raise RegistryError(f"version {version!r} must match {VERSION_PATTERN.pattern}")
        parent = self.root / name
        target = parent / version
        if target.exists():
            raise RegistryError(f"{target} already exists; versions are never overwritten")
        parent.mkdir(parents=True, exist_ok=True)
        staging = parent / f".staging-{version}-{os.getpid()}"
        staging.mkdir()
        try:
            fill(staging)
            _fsync_tree(staging)
            if target.exists():
                raise RegistryError(f"{target} appeared while writing; not overwriting it")
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _fsync_dir(parent)
        return target


def _check_id(name: str, version: str) -> None:
    if not NAME_PATTERN.match(name):
        raise RegistryError(f"model name {name!r} must match {NAME_PATTERN.pattern}")
    if not VERSION_PATTERN.match(version):
        raise RegistryError(f"version {version!r} must match {VERSION_PATTERN.pattern}")


class ObjectRegistry:
    """A registry under an object-storage prefix: s3://bucket/prefix/<name>/<version>/...

    Object stores have no rename, so a version becomes visible the way a directory rename
    would make it: every file is uploaded under a temporary key (<name>/.staging-...), then
    copied to its final name with a copy that refuses to overwrite (conditional on the key not
    existing), manifest.json last. Readers (`tabship models`, the server) count a version only
    once its manifest.json exists, and by then every other file is in place. The temporary
    keys are deleted afterwards.

    write_version() fills a local folder first (the parity gate runs there, on local files);
    publish() uploads it.
    """

    def __init__(self, uri: str, evidence_root: str | None = None) -> None:
        bucket_url, key = object_store.split(uri)
        self.uri = uri.rstrip("/")
        if evidence_root is not None and (evidence_root.rstrip("/") + "/").startswith(
            self.uri + "/"
        ):
            raise RegistryError(
                f"--evidence {evidence_root} is inside the registry {self.uri}: evidence "
                "(training rows, the pickled pipeline) stays apart from what servers read"
            )
        self._evidence_root = evidence_root
        self.root = self.uri  # shown by `tabship models`
        self._bucket_url = bucket_url
        self._prefix = key.strip("/")
        self._spool = Registry(tempfile.mkdtemp(prefix="tabship-publish-"))
        self._store: Any = None

    @property
    def evidence_root(self) -> str:
        """Asked for only when a version is written (a bucket's root has no default)."""
        try:
            return self._evidence_root or evidence.default_root(self.uri)
        except evidence.EvidenceError as error:
            raise RegistryError(str(error)) from None

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self._prefix, *parts) if p)

    def _open(self) -> tuple[Any, Any]:
        """(obstore, the bucket's store); a missing s3 extra is a RegistryError."""
        try:
            if self._store is None:
                self._store = object_store.open_store(self._bucket_url)
            return object_store.library(), self._store
        except ModelRefused as error:
            raise RegistryError(str(error)) from None

    def _call(self, what: str, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except RegistryError:
            raise
        except Exception as error:  # obstore's errors: denied, network, missing bucket
            raise RegistryError(
                str(object_store.describe_error(f"{self.uri} ({what})", error))
            ) from None

    def _children(self, key: str) -> list[str]:
        obstore, store = self._open()
        listed = self._call("list", lambda: obstore.list_with_delimiter(store, key + "/"))
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in listed["common_prefixes"])

    def _objects(self, key: str) -> list[str]:
        obstore, store = self._open()
        pages = self._call("list", lambda: list(obstore.list(store, key + "/")))
        return [entry["path"] for page in pages for entry in page]

    def models(self) -> list[str]:
        names = [n for n in self._children(self._prefix) if NAME_PATTERN.match(n)]
        return [n for n in names if self.versions(n)]

    def versions(self, name: str) -> list[str]:
        """Published versions (manifest.json present), oldest first."""
        base = self._key(name)
        complete = {
            path[len(base) + 1 :].split("/", 1)[0]
            for path in self._objects(base)
            if path.endswith(f"/{MANIFEST_FILE}") and path.count("/") == base.count("/") + 2
        }
        return sorted(v for v in complete if VERSION_PATTERN.match(v))

    def location(self, name: str, version: str) -> str:
        return f"{self.uri}/{name}/{version}"

    def read_manifest(self, name: str, version: str) -> dict[str, Any]:
        try:
            data = object_store.read(f"{self.location(name, version)}/{MANIFEST_FILE}", 16 << 20)
        except ModelRefused as error:
            raise OSError(str(error)) from None
        value = json.loads(data)
        if not isinstance(value, dict):
            raise ValueError("manifest.json is not a JSON object")
        return value

    def latest(self, name: str) -> str:
        versions = self.versions(name)
        if not versions:
            raise RegistryError(f"no versions of model {name!r} under {self.uri}")
        return self.location(name, versions[-1])

    def new_version_id(self, name: str, content_hash: str, now: datetime | None = None) -> str:
        """As Registry's, after every version present in the store, complete or not."""
        started = [v for v in self._children(self._key(name)) if VERSION_PATTERN.match(v)]
        newest = max([*started, *self._spool.versions(name)], default=None)
        moment = now or datetime.now(UTC)
        if newest is not None:
            stamp = datetime.strptime(newest[:22], _STAMP).replace(tzinfo=UTC)
            moment = max(moment, stamp + timedelta(microseconds=1))
        return f"{moment.strftime(_STAMP)}-{content_hash[:8]}"

    def write_version(self, name: str, version: str, fill: Callable[[Path], None]) -> Path:
        """A local folder (private to this registry object) holding the version; publish()
        puts it in the store."""
        _check_id(name, version)
        if self._objects(self._key(name, version)):
            raise RegistryError(
                f"{self.location(name, version)} already exists; versions are never overwritten"
            )
        return self._spool.write_version(name, version, fill)

    def publish(self, folder: Path) -> str:
        name, version = folder.parent.name, folder.name
        _check_id(name, version)
        obstore, store = self._open()
        final = self._key(name, version)
        if self._objects(final):
            raise RegistryError(
                f"{self.location(name, version)} already exists; versions are never overwritten"
            )
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        # manifest.json last: the version exists for readers from that copy on
        files.sort(key=lambda f: f == MANIFEST_FILE)
        staging = self._key(name, f".staging-{version}-{uuid.uuid4().hex[:12]}")
        copied: list[str] = []
        try:
            for relative in files:
                data = (folder / relative).read_bytes()
                key = f"{staging}/{relative}"
                put = partial(obstore.put, store, key, data, mode="create")
                self._call(f"upload {relative}", put)
            for relative in files:
                target = f"{final}/{relative}"
                try:
                    obstore.copy(store, f"{staging}/{relative}", target, overwrite=False)
                except obstore.exceptions.AlreadyExistsError:
                    raise RegistryError(
                        f"{self.location(name, version)}/{relative} appeared while publishing; "
                        "not overwriting it"
                    ) from None
                except Exception as error:
                    raise RegistryError(
                        str(object_store.describe_error(f"{self.uri} (copy {relative})", error))
                    ) from None
                copied.append(target)
        except BaseException:
            # manifest.json is copied last, so it is not among these: the version was never
            # visible; its files go too rather than confuse a reader of the bucket.
            self._delete_quietly(copied)
            raise
        finally:
            self._delete_quietly([f"{staging}/{relative}" for relative in files])
        if folder.resolve().is_relative_to(self._spool.root.resolve()):
            shutil.rmtree(folder, ignore_errors=True)  # the local copy has served its purpose
        return self.location(name, version)

    def _delete_quietly(self, keys: list[str]) -> None:
        if keys:
            try:
                obstore, store = self._open()
                obstore.delete(store, keys)
            except Exception:  # best effort: the keys are private and unlisted
                pass


def open_registry(
    root: str | os.PathLike[str] | None = None, evidence_root: str | None = None
) -> Registry | ObjectRegistry:
    """The registry at `root` (default $TABSHIP_REGISTRY or ./models): s3:// or a folder;
    its versions' evidence under `evidence_root` (default: beside it, `<root>-evidence`)."""
    chosen = os.fspath(root) if root is not None else os.environ.get("TABSHIP_REGISTRY")
    if evidence_root is not None and re.match(r"^[A-Za-z][A-Za-z0-9+.-]+://", evidence_root):
        if not object_store.is_object_uri(evidence_root):
            raise RegistryError(f"{evidence_root}: unsupported evidence URI (a folder or s3://)")
    if chosen is not None and object_store.is_object_uri(chosen):
        try:
            return ObjectRegistry(chosen, evidence_root)
        except ModelRefused as error:
            raise RegistryError(str(error)) from None
    if chosen is not None and re.match(r"^[A-Za-z][A-Za-z0-9+.-]+://", chosen):
        # never a local folder named "gs:" by accident
        raise RegistryError(f"{chosen}: unsupported registry URI (use a folder or s3://)")
    return Registry(chosen, evidence_root)


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
