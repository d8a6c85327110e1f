"""`tabship export`: a new version from a saved reference pipeline (a released version's)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tabship.training import evidence


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        help="a version directory written by `tabship train` (its evidence under --evidence)",
    )
    parser.add_argument("--name", help="model name for the new version (default: the source's)")
    parser.add_argument(
        "--registry",
        help="registry root: a folder or s3://bucket/prefix (default: $TABSHIP_REGISTRY or ./models)",
    )
    evidence.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from tabship.contract.manifest import MANIFEST_FILE
    from tabship.export.artifact import export_candidate, load_candidate
    from tabship.export.registry import RegistryError, open_registry
    from tabship.training.declaration import DeclarationError

    source = Path(args.source)
    if not (source / MANIFEST_FILE).is_file():
        print(
            f"tabship export: {source} is not a version directory written by tabship train "
            f"(no {MANIFEST_FILE})",
            file=sys.stderr,
        )
        return 2
    # with trusted keys, the source's signature is checked before its hashes are believed
    trusted = tuple(k.strip() for k in os.environ.get("TABSHIP_TRUSTED_KEYS", "").split(","))
    try:
        registry = open_registry(args.registry, args.evidence)
        candidate = load_candidate(
            source,
            args.name,
            evidence_root=args.evidence,
            trusted_keys=tuple(k for k in trusted if k),
            allow_legacy=args.trust_legacy_evidence,
        )
        where = registry.publish(export_candidate(candidate, registry))
    except (RegistryError, DeclarationError, evidence.EvidenceError) as error:
        print(f"tabship export: {error}", file=sys.stderr)
        return 2
    except (OSError, ValueError, KeyError) as error:
        # a damaged version directory (manifest, record or reference unreadable)
        print(f"tabship export: {source}: cannot re-export ({error!r})", file=sys.stderr)
        return 2
    print(where)
    return 0
