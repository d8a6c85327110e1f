"""The release path: `tabship train`'s and a user's own pipeline's road to one gated version.

`tabship.release(pipeline, ...)` calls this package (tabship/release/own.py's `release`): the
package is also the Python API's verb, so importing `tabship.release.flow` (which makes the
package an attribute of `tabship`) cannot shadow the function.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from tabship.release.own import release

        return release(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
