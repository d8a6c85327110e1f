"""Reading the joblib files a tabship version holds, including those written before the
packages moved under the one import name: their classes are recorded as `training.contract...`
(now `tabship.training.contract...`). The old names are tried only when the plain load fails on
one of them, so a user's own module called `training` is never shadowed."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import joblib

# top-level names of tabship's packages before the move -> their names now
OLD_PACKAGES = {
    "training": "tabship.training",
    "contract": "tabship.contract",
    "export": "tabship.export",
    "gate": "tabship.parity_tests",
    "runtime": "tabship.runtime",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """`import training.contract.numeric` -> the module tabship.training.contract.numeric."""

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in OLD_PACKAGES:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        top, _, rest = module.__name__.partition(".")
        real = importlib.import_module(".".join(filter(None, (OLD_PACKAGES[top], rest))))
        # the import system reads sys.modules back after exec_module: the real module is used
        sys.modules[module.__name__] = real


@contextmanager
def old_package_names() -> Iterator[None]:
    """The packages' pre-move names resolve to the moved modules, for this block only."""
    before = set(sys.modules)
    alias = _Alias()
    sys.meta_path.insert(0, alias)
    try:
        yield
    finally:
        sys.meta_path.remove(alias)
        for name in set(sys.modules) - before:
            if name.partition(".")[0] in OLD_PACKAGES:
                del sys.modules[name]


def load_joblib(source: Path | bytes) -> Any:
    """joblib.load of a file or of bytes already read (and hashed: training/evidence.py),
    retried with the pre-move package names when it names one of them. Only for content whose
    integrity the caller has checked: unpickling runs code."""

    def load() -> Any:
        return joblib.load(io.BytesIO(source) if isinstance(source, bytes) else source)

    try:
        return load()
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] not in OLD_PACKAGES:
            raise
    with old_package_names():
        return load()
