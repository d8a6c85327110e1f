"""tabship: a scikit-learn + XGBoost tabular pipeline to one ONNX file, proven equal, served.

The repository's folders are mapped under this one import name: `tabship.training`,
`tabship.export`, `tabship.parity_tests`, `tabship.runtime` (plus `tabship.contract`,
`tabship.release` and `tabship.cli`). Importing `tabship` imports no training library, so it
works in the serve-only install.
"""

from __future__ import annotations

__version__ = "0.1.0"
