"""The import graph of the one package, tabship, read top to bottom:
contract <- runtime, training <- export <- parity_tests <- release <- cli.

Walks every module's imports with `ast` (no grep, no importing), so a lazy import inside a
function counts as much as one at the top. Also: every import and module string in the
repository carries the `tabship.` prefix, and each optional extra's library is imported only
from its own sub-package. Run as a script to print the package graph.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# tabship.<package> -> the folder that holds it (the user's layout keeps four at the top)
FOLDERS = {
    "contract": REPO / "tabship" / "contract",
    "release": REPO / "tabship" / "release",
    "cli": REPO / "tabship" / "cli",
    "runtime": REPO / "runtime",
    "training": REPO / "training",
    "export": REPO / "export",
    "parity_tests": REPO / "parity_tests",
}
PACKAGES = tuple(FOLDERS)
# The names the packages had before they moved under tabship (and the gate's interim home):
# none may be imported any more.
OLD_NAMES = {"contract", "runtime", "training", "export", "gate", "release", "tabship_cli"}
OLD_NAMES |= {"parity_tests"}
# Edges that must not exist. contract imports none of ours; training and export never reach
# into the server (what they share with it lives in tabship/contract/) nor up into the gate or the
# release path; the gate checks a graph against its pipeline (whose transformers it reads,
# in training/) and knows nothing of how the graph was made; only tabship/release/ (`tabship train`)
# strings train -> export -> gate -> publish together, and nothing below it imports it.
_ABOVE_EXPORT = {"parity_tests", "release", "cli"}
FORBIDDEN = {
    "contract": set(PACKAGES) - {"contract"},
    "runtime": {"training", "export", *_ABOVE_EXPORT},
    "training": {"runtime", "export", *_ABOVE_EXPORT},
    "export": {"runtime", *_ABOVE_EXPORT},
    "parity_tests": {"export", "release", "cli"},
    "release": {"cli"},
}
# Each optional extra's library, and the only modules that may import it.
EXTRAS = {
    "grpc": ("tabship.runtime.grpc.",),
    "pyarrow": ("tabship.runtime.batch.", "tabship.training.", "tabship.export."),
    "dask": ("tabship.runtime.batch.dask_engine",),
    "distributed": ("tabship.runtime.batch.dask_engine",),
    "obstore": ("tabship.contract.object_store",),
    "cryptography": ("tabship.contract.signature",),
}


def modules() -> Iterator[tuple[str, Path]]:
    """(module name under tabship, file) for every module of the package."""
    yield "tabship", REPO / "tabship" / "__init__.py"
    for package, folder in FOLDERS.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join(("tabship", package, *parts)), path


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
    for module, path in modules():
        parts = module.split(".")
        if len(parts) < 2:
            continue
        for name in _imported(ast.parse(path.read_text(encoding="utf-8")), module):
            target = name.split(".")
            if target[0] == "tabship" and len(target) > 1 and target[1] != parts[1]:
                graph[parts[1]][target[1]].append(path.relative_to(REPO).as_posix())
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


# files that name pre-move modules on purpose, and why
MAY_NAME_OLD_MODULES = {
    "bench/module_crossings.py": "it measures a checkout from before the move by its own names",
}


def _python_files() -> Iterator[Path]:
    for _, path in modules():
        yield path
    for folder in ("tests", "bench", "scripts", "clients"):
        for path in sorted((REPO / folder).rglob("*.py")):
            # this file names old paths on purpose (its self-test below)
            relative = path.relative_to(REPO).as_posix()
            if "node_modules" not in path.parts and path != Path(__file__).resolve():
                if relative not in MAY_NAME_OLD_MODULES:
                    yield path


def _old_module_strings(tree: ast.AST) -> list[str]:
    """String literals that name a module by its old, un-prefixed path ("runtime.app",
    "-m gate.gate" ...): a subprocess or resources.files() call would fail with them."""
    known = {module.removeprefix("tabship.").split(".", 1)[-1] for module, _ in modules()}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            # code in a string (`python -c`): its import lines
            for name in re.findall(r"(?m)^\s*(?:from|import)\s+([A-Za-z_][\w.]*)", node.value):
                if name.split(".")[0] in OLD_NAMES:
                    found.append(name)
            words = node.value.split(".")
            if len(words) >= 2 and words[0] in OLD_NAMES and words[1].isidentifier():
                if node.value.split(":")[0] in {f"{p}.{k}" for p in OLD_NAMES for k in known}:
                    found.append(node.value)
    return found


def test_every_import_and_module_string_carries_the_tabship_prefix() -> None:
    wrong = []
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = path.relative_to(REPO).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            wrong += [f"{where}: import {n}" for n in names if n.split(".")[0] in OLD_NAMES]
        wrong += [f"{where}: {s!r}" for s in _old_module_strings(tree)]
    assert not wrong, "un-prefixed imports or module names:\n" + "\n".join(wrong)


def test_the_prefix_check_sees_imports_and_module_strings() -> None:
    tree = ast.parse(
        "import runtime.rest.app\nfrom gate import rows\nx = ['-m', 'runtime.health_listener']\n"
        "code = 'import sys\\nfrom export.cli import run\\n'\n"
    )
    assert sorted(_old_module_strings(tree)) == ["export.cli", "runtime.health_listener"]
    assert _imported(tree, "tabship.x") == {"runtime.rest.app", "gate"}


def test_each_extra_is_imported_only_from_its_own_subpackage() -> None:
    wrong = []
    for module, path in modules():
        for name in _imported(ast.parse(path.read_text(encoding="utf-8")), module):
            allowed = EXTRAS.get(name.split(".")[0])
            if allowed is not None and not any(
                module == prefix.rstrip(".") or module.startswith(prefix) for prefix in allowed
            ):
                wrong.append(f"{module} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_contract_needs_only_the_standard_library_and_numpy_at_import() -> None:
    # obstore (the s3 extra) is imported inside tabship/contract/object_store.py's functions, when an
    # object URI is used, and cryptography (the sign extra) inside tabship/contract/signature.py's, when
    # keys are used; nothing else outside the standard library and numpy.
    allowed = set(sys.stdlib_module_names) | {"numpy", "tabship"}
    outside = []
    for path in sorted(FOLDERS["contract"].rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top_level = ast.Module(
            body=[n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)],
            type_ignores=[],
        )
        outside += [
            f"{path.name}: {name}"
            for name in _imported(top_level, "tabship.contract.x")
            if name.split(".")[0] not in allowed
        ]
        outside += [
            f"{path.name}: {name}"
            for name in _imported(tree, "tabship.contract.x")
            if name.split(".")[0] not in allowed | {"obstore", "cryptography"}
        ]
    assert not outside


def test_the_walker_sees_lazy_and_relative_imports() -> None:
    tree = ast.parse("def f():\n    from tabship.runtime import x\nfrom . import y\n")
    assert _imported(tree, "tabship.training.cli") == {"tabship.runtime", "tabship.training"}


if __name__ == "__main__":
    for package, targets in sorted(package_imports().items()):
        for target, files in sorted(targets.items()):
            print(f"{package} -> {target}: {len(set(files))} file(s)", file=sys.stdout)
