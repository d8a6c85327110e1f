"""The local model registry: models/<name>/<version>/, immutable, written atomically."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

DEFAULT_ROOT = Path("models")
VERSION_PATTERN = re.compile(r"^[0-9]{8}T[0-9]{12}Z-[0-9a-f]{8}$")
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_STAMP = "%Y%m%dT%H%M%S%fZ"


class RegistryError(RuntimeError):
    pass


def default_root() -> Path:
    return Path(os.environ.get("TABSHIP_REGISTRY", DEFAULT_ROOT))


class Registry:
    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

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
