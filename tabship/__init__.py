"""tabship: a scikit-learn + XGBoost tabular pipeline to one ONNX file, proven equal, served.

The repository's folders are mapped under this one import name: `tabship.training`,
`tabship.export`, `tabship.parity_tests`, `tabship.runtime` (plus `tabship.contract`,
`tabship.release` and `tabship.cli`). Importing `tabship` imports no training library, so it
works in the serve-only install.

For a pipeline fitted in a notebook (docs/own-pipeline.md)::

    import tabship
    done = tabship.release(pipeline, train=(X_train, y_train), test=(X_test, y_test),
                           name="churn")         # convert, gate, write once, publish
    graph = tabship.convert(pipeline, X_train)   # or only the ONNX graph

`tabship.steps` holds tabship's cleaning, feature and category steps for use inside such a
pipeline. Each is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> (module, attribute); None: the module itself
_LAZY = {
    "release": ("tabship.release", None),
    "convert": ("tabship.release.own", "convert"),
    "Release": ("tabship.release.own", "Release"),
    "steps": ("tabship.steps", None),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'tabship' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    return module if attribute is None else getattr(module, attribute)


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
