"""`tabship models`: what the registry holds: every model's versions, oldest first, with the
parity status that decides whether a server will load them, and which one is the latest."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tabship.export.registry import ObjectRegistry, Registry, RegistryError, open_registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--registry",
        help="registry root: a folder or s3://bucket/prefix (default: $TABSHIP_REGISTRY or ./models)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def listing(registry: Registry | ObjectRegistry) -> list[dict[str, Any]]:
    models = []
    for name in registry.models():
        versions = []
        for version in registry.versions(name):
            try:
                manifest = registry.read_manifest(name, version)
            except (OSError, ValueError):
                manifest = {}
            versions.append(
                {
                    "version": version,
                    "path": registry.location(name, version),
                    "created_at": manifest.get("created_at"),
                    "parity": manifest.get("parity", {}).get("status", "unreadable manifest"),
                    "roc_auc": manifest.get("metrics", {}).get("roc_auc"),
                }
            )
        models.append({"name": name, "latest": versions[-1]["version"], "versions": versions})
    return models


def run(args: argparse.Namespace) -> int:
    try:
        registry = open_registry(args.registry)
        models = listing(registry)
    except RegistryError as error:
        print(f"tabship models: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"registry": str(registry.root), "models": models}, indent=2))
        return 0
    if not models:
        print(f"no models under {registry.root}")
        return 0
    for model in models:
        print(model["name"])
        for entry in model["versions"]:
            latest = "  (latest)" if entry["version"] == model["latest"] else ""
            auc = f"roc_auc {entry['roc_auc']:.4f}" if entry["roc_auc"] is not None else ""
            print(f"  {entry['version']}  parity {entry['parity']:<8} {auc}{latest}")
    return 0
