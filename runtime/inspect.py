"""`tabship inspect PATH [--json]`: what a model version or a lone .onnx file is, without
creating a session. Exit code 1 when the file is unreadable or its SHA-256 does not match."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from contract.errors import ModelRefused
from contract.manifest import (
    MANIFEST_FILE,
    METADATA_KEY,
    MODEL_FILE,
    check_manifest,
    embedded_manifest,
)
from runtime.onnx_wire import WireError, read_facts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", help="a version directory (model.onnx + manifest.json) or a .onnx file"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--sha256", help="expected SHA-256 of the .onnx file (like MODEL_SHA256)")


def describe(path: Path, pin: str | None = None) -> dict[str, Any]:
    """Raises ModelRefused when the path cannot be read as a tabship model."""
    onnx_path = path / MODEL_FILE if path.is_dir() else path
    manifest_path: Path | None = (
        path / MANIFEST_FILE if path.is_dir() else path.with_name(MANIFEST_FILE)
    )
    try:
        data = onnx_path.read_bytes()
    except OSError as error:
        raise ModelRefused(f"{onnx_path}: cannot read ({error.strerror or error})") from None
    try:
        facts = read_facts(data)
    except WireError as error:
        raise ModelRefused(f"{onnx_path}: not a valid ONNX file ({error})") from None
    manifest: dict[str, Any] | None = None
    source = "metadata_props"
    if manifest_path is not None and manifest_path.is_file():
        try:
            candidate = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ModelRefused(f"{manifest_path}: not JSON ({error})") from None
        if path.is_dir() or candidate.get("onnx", {}).get("file") == onnx_path.name:
            manifest, source = check_manifest(candidate, str(manifest_path)), str(manifest_path)
    if manifest is None:
        embedded = embedded_manifest(facts.metadata, str(onnx_path))
        if embedded is None:
            raise ModelRefused(
                f"{onnx_path}: no manifest.json and no {METADATA_KEY} in metadata_props"
            )
        manifest = check_manifest(embedded, f"{onnx_path} metadata_props")
    sha256 = hashlib.sha256(data).hexdigest()
    expected = pin.lower() if pin else manifest.get("onnx", {}).get("sha256")
    check = "unverified" if not expected else ("ok" if expected == sha256 else "MISMATCH")
    return {
        "path": str(onnx_path),
        "manifest_source": source,
        "name": manifest["name"],
        "version": manifest["version"],
        "inputs": [
            {
                key: entry[key]
                for key in (
                    "name",
                    "kind",
                    "onnx_type",
                    "nullable",
                    "categories",
                    "aliases",
                    "integer_codes",
                    "max_length",
                    "bounds",
                    "range",
                )
                if key in entry
            }
            for entry in manifest["inputs"]
        ],
        "outputs": manifest["outputs"],
        "metrics": manifest.get("metrics", {}),
        "threshold": manifest["threshold"],
        "parity": manifest["parity"],
        "onnx": {
            "bytes": len(data),
            "ir_version": facts.ir_version,
            "opsets": facts.opsets,
            "external_data": facts.external_data,
            "node_domains": sorted(facts.node_domains),
        },
        "sha256": {"actual": sha256, "expected": expected, "check": check},
    }


def _text(info: dict[str, Any]) -> str:
    lines = [
        f"{info['name']} {info['version']}",
        f"  file        {info['path']} ({info['onnx']['bytes']} bytes, IR {info['onnx']['ir_version']}, opsets {info['onnx']['opsets']})",
        f"  manifest    {info['manifest_source']}",
        f"  sha256      {info['sha256']['actual']} [{info['sha256']['check']}]",
        f"  parity      {info['parity'].get('status')}",
        f"  threshold   {info['threshold'].get('value')} ({info['threshold'].get('rule')})",
        "  metrics     "
        + ", ".join(
            f"{k}={v:.4g}" for k, v in sorted(info["metrics"].items()) if isinstance(v, int | float)
        ),
        "  inputs",
    ]
    for entry in info["inputs"]:
        extra = ""
        if entry["kind"] == "categorical":
            extra = f" categories={entry.get('categories', [])}"
            if entry.get("integer_codes"):
                extra += " integer_codes"
        lines.append(
            f"    {entry['name']}: {entry['kind']} {entry['onnx_type']}"
            f"{' nullable' if entry['nullable'] else ''}{extra}"
        )
    lines.append("  outputs")
    for output in info["outputs"]:
        lines.append(f"    {output['name']}: {output.get('onnx_type')} {output.get('shape')}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        info = describe(Path(args.path), args.sha256)
    except ModelRefused as error:
        print(f"tabship inspect: {error}", file=sys.stderr)
        return 1
    print(json.dumps(info, indent=2, sort_keys=True) if args.json else _text(info))
    return 1 if info["sha256"]["check"] == "MISMATCH" else 0
