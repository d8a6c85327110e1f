"""The `tabship` command. Subcommands are imported lazily, so that `tabship serve` and
`tabship score` run in a serve-only install where the training stack is absent."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module, one-line help). Each module defines add_arguments(parser) and
# run(args) -> int exit code.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "declare": (
        "tabship.training.declare_cli",
        "print a commented declaration inferred from a table",
    ),
    "train": ("tabship.release.cli", "train the pipeline variants (and export + gate them)"),
    "export": (
        "tabship.release.export_cli",
        "export a version again, or release your own fitted pipeline (--pipeline FILE)",
    ),
    "parity": ("tabship.parity_tests.gate", "run the parity release gate on a model version"),
    "vectors": (
        "tabship.parity_tests.vectors",
        "write a version's conformance vectors (JSON Lines) for consumers in other languages",
    ),
    "models": (
        "tabship.export.models_cli",
        "list the registry's models and versions (latest last)",
    ),
    "inspect": ("tabship.cli.inspect", "describe a .onnx file or a model version directory"),
    "sign": ("tabship.cli.sign", "sign a released version with an Ed25519 key (sign extra)"),
    "keygen": ("tabship.cli.keygen", "create an Ed25519 key pair for tabship sign (sign extra)"),
    "serve": ("tabship.runtime.serve", "serve a model over HTTP"),
    "report": ("tabship.runtime.page.report_cli", "write a version's model page as one HTML file"),
    "score": ("tabship.runtime.batch.cli", "score a CSV/Parquet file in bounded memory"),
    "drift": (
        "tabship.runtime.live.drift_cli",
        "drift per column of a CSV/Parquet batch against a version's training rows",
    ),
}


def _module(name: str):  # type: ignore[no-untyped-def]
    module_name, _ = SUBCOMMANDS[name]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or "a dependency"
        raise SystemExit(
            f"tabship {name}: {missing} is not installed; install the extra that provides it "
            "(see README.md, 'Installing by role')."
        ) from error


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="tabship", description=__doc__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in SUBCOMMANDS.items():
        commands.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] not in SUBCOMMANDS:
        parser.parse_args(argv)  # prints usage / error for unknown commands
        parser.print_help()
        return 2
    name = argv[0]
    module = _module(name)
    sub = argparse.ArgumentParser(prog=f"tabship {name}", description=SUBCOMMANDS[name][1])
    module.add_arguments(sub)
    args = sub.parse_args(argv[1:])
    return int(module.run(args))


if __name__ == "__main__":
    sys.exit(main())
