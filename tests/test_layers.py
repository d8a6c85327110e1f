"""The import graph reads top to bottom: contract <- runtime, training <- export <- release.

Walks every module's imports with `ast` (no grep, no importing), so a lazy import inside a
function counts as much as one at the top. Run as a script to print the package graph.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("contract", "runtime", "training", "export", "gate", "release", "tabship_cli")
# Edges that must not exist. contract imports none of ours; training and export never reach
# into the server (what they share with it lives in contract/) nor up into the gate or the
# release path; the gate checks a graph against its pipeline (whose transformers it reads,
# in training/) and knows nothing of how the graph was made; only release/ (`tabship train`) strings train -> export -> gate -> publish
# together, and nothing below it imports it.
_ABOVE_EXPORT = {"gate", "release", "tabship_cli"}
FORBIDDEN = {
    "contract": set(PACKAGES) - {"contract"},
    "runtime": {"training", "export", *_ABOVE_EXPORT},
    "training": {"runtime", "export", *_ABOVE_EXPORT},
    "export": {"runtime", *_ABOVE_EXPORT},
    "gate": {"export", "release", "tabship_cli"},
    "release": {"tabship_cli"},
}


def _imported(tree: ast.AST, module: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                base = module.split(".")[: -node.level]
                names.add(".".join([*base, node.module or ""]).strip("."))
            elif node.module:
                names.add(node.module)
    return names


def package_imports() -> dict[str, dict[str, list[str]]]:
    """package -> imported package -> the importing files."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            relative = path.relative_to(REPO)
            module = ".".join(relative.with_suffix("").parts)
            for name in _imported(ast.parse(path.read_text(encoding="utf-8")), module):
                top = name.split(".")[0]
                if top in PACKAGES and top != package:
                    graph[package][top].append(relative.as_posix())
    return graph


def test_no_layer_imports_upwards() -> None:
    graph = package_imports()
    wrong = [
        f"{package} -> {target} ({', '.join(sorted(set(files)))})"
        for package, forbidden in FORBIDDEN.items()
        for target, files in graph.get(package, {}).items()
        if target in forbidden
    ]
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_contract_needs_only_the_standard_library_and_numpy_at_import() -> None:
    # obstore (the s3 extra) is imported inside contract/object_store.py's functions, when an
    # object URI is used, and cryptography (the sign extra) inside contract/signature.py's, when
    # keys are used; nothing else outside the standard library and numpy.
    allowed = set(sys.stdlib_module_names) | {"numpy", "contract"}
    outside = []
    for path in sorted((REPO / "contract").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top_level = ast.Module(
            body=[n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)],
            type_ignores=[],
        )
        outside += [
            f"{path.name}: {name}"
            for name in _imported(top_level, "contract.x")
            if name.split(".")[0] not in allowed
        ]
        outside += [
            f"{path.name}: {name}"
            for name in _imported(tree, "contract.x")
            if name.split(".")[0] not in allowed | {"obstore", "cryptography"}
        ]
    assert not outside


def test_the_walker_sees_lazy_and_relative_imports() -> None:
    tree = ast.parse("def f():\n    from runtime import x\nfrom . import y\n")
    assert _imported(tree, "training.cli") == {"runtime", "training"}


if __name__ == "__main__":
    for package, targets in sorted(package_imports().items()):
        for target, files in sorted(targets.items()):
            print(f"{package} -> {target}: {len(set(files))} file(s)", file=sys.stdout)
