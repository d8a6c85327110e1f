"""`tabship export`: a new version from a saved reference pipeline (a released version's)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        help="a version directory holding reference.joblib and "
        "training.json (as written by `tabship train`)",
    )
    parser.add_argument("--name", help="model name for the new version (default: the source's)")
    parser.add_argument(
        "--registry",
        help="registry root: a folder or s3://bucket/prefix (default: $TABSHIP_REGISTRY or ./models)",
    )


def run(args: argparse.Namespace) -> int:
    from tabship.export.artifact import TRAINING_RECORD_FILE, export_candidate, load_candidate
    from tabship.export.registry import RegistryError, open_registry
    from tabship.training.declaration import DeclarationError

    source = Path(args.source)
    if not (source / TRAINING_RECORD_FILE).is_file():
        print(
            f"tabship export: {source} is not a version directory written by tabship train "
            f"(no {TRAINING_RECORD_FILE})",
            file=sys.stderr,
        )
        return 2
    try:
        registry = open_registry(args.registry)
        where = registry.publish(export_candidate(load_candidate(source, args.name), registry))
    except (RegistryError, DeclarationError) as error:
        print(f"tabship export: {error}", file=sys.stderr)
        return 2
    except (OSError, ValueError, KeyError) as error:
        # a damaged version directory (manifest, record or reference unreadable)
        print(f"tabship export: {source}: cannot re-export ({error!r})", file=sys.stderr)
        return 2
    print(where)
    return 0
