"""`tabship inspect PATH [--json]`: what a model version or a lone .onnx file is, without
creating a session. Exit code 1 when the file is unreadable, its SHA-256 does not match, or its
signature is invalid (or, with trusted keys, not verified)."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tabship.contract import signature
from tabship.contract.errors import ModelRefused
from tabship.contract.manifest import (
    CATEGORICAL,
    MANIFEST_FILE,
    METADATA_KEY,
    MODEL_FILE,
    check_manifest,
    embedded_manifest,
)
from tabship.runtime.model.artifact import MAX_MANIFEST_BYTES
from tabship.runtime.model.download import read_local
from tabship.runtime.model.onnx_wire import WireError, read_facts
from tabship.runtime.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", help="a version directory (model.onnx + manifest.json) or a .onnx file"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--sha256", help="expected SHA-256 of the .onnx file (like MODEL_SHA256)")
    parser.add_argument(
        "--trusted-keys",
        default=os.environ.get("TABSHIP_TRUSTED_KEYS", ""),
        help="comma-separated public key files: verify manifest.sig against them (default "
        "$TABSHIP_TRUSTED_KEYS; without keys the signer's key id is shown, unverified)",
    )


def describe_signature(
    manifest_path: Path | None, trusted_keys: Sequence[str] = ()
) -> dict[str, Any]:
    """Whether manifest.sig is there, whose key id it names, and (given trusted keys) whether
    it verifies; "check": absent | unverified | verified | INVALID | CHANGED."""
    if manifest_path is None or not manifest_path.is_file():
        return {"check": "absent", "reason": "no manifest.json to sign"}
    where = manifest_path.with_name(signature.SIGNATURE_FILE)
    if not os.path.lexists(where):
        return {"check": "absent"}
    manifest = read_local(manifest_path, MAX_MANIFEST_BYTES)
    try:
        data = read_local(where, signature.MAX_SIGNATURE_BYTES)
        signed = signature.parse(data, str(where))
    except ModelRefused as error:
        return {"file": str(where), "check": "INVALID", "reason": str(error)}
    info: dict[str, Any] = {
        "file": str(where),
        "key_id": signed.key_id,
        "signed_at": signed.signed_at,
    }
    if not trusted_keys:
        changed = signed.manifest_sha256 != hashlib.sha256(manifest).hexdigest()
        return {
            **info,
            "check": "CHANGED" if changed else "unverified",
            "reason": "manifest.json changed after signing"
            if changed
            else "no trusted keys given (--trusted-keys)",
        }
    try:
        signature.verify(manifest, data, signature.load_trusted_keys(trusted_keys), str(where))
    except ModelRefused as error:
        return {**info, "check": "INVALID", "reason": str(error)}
    return {**info, "check": "verified"}


def describe(
    path: Path, pin: str | None = None, trusted_keys: Sequence[str] = ()
) -> dict[str, Any]:
    """Raises ModelRefused when the path cannot be read as a tabship model."""
    onnx_path = path / MODEL_FILE if path.is_dir() else path
    manifest_path: Path | None = (
        path / MANIFEST_FILE if path.is_dir() else path.with_name(MANIFEST_FILE)
    )
    data = read_local(onnx_path, Settings().fetch_max_bytes)
    try:
        facts = read_facts(data)
    except WireError as error:
        raise ModelRefused(f"{onnx_path}: not a valid ONNX file ({error})") from None
    manifest: dict[str, Any] | None = None
    source = "metadata_props"
    if manifest_path is not None and manifest_path.is_file():
        try:
            candidate = json.loads(read_local(manifest_path, MAX_MANIFEST_BYTES))
        except ValueError as error:
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
        **({"target": manifest["target"]} if "target" in manifest else {}),
        "threshold": manifest.get("threshold"),
        "parity": manifest["parity"],
        "onnx": {
            "bytes": len(data),
            "ir_version": facts.ir_version,
            "opsets": facts.opsets,
            "external_data": facts.external_data,
            "node_domains": sorted(facts.node_domains),
        },
        "sha256": {"actual": sha256, "expected": expected, "check": check},
        "signature": describe_signature(
            manifest_path if source != "metadata_props" else None, trusted_keys
        ),
    }


def _signature_text(described: dict[str, Any]) -> str:
    if described["check"] == "absent":
        return "none (unsigned)"
    text = f"{described.get('key_id', '?')} [{described['check']}]"
    if described.get("signed_at"):
        text += f" signed {described['signed_at']}"
    return text + (f": {described['reason']}" if described.get("reason") else "")


def _text(info: dict[str, Any]) -> str:
    lines = [
        f"{info['name']} {info['version']}",
        f"  file        {info['path']} ({info['onnx']['bytes']} bytes, IR {info['onnx']['ir_version']}, opsets {info['onnx']['opsets']})",
        f"  manifest    {info['manifest_source']}",
        f"  sha256      {info['sha256']['actual']} [{info['sha256']['check']}]",
        f"  signature   {_signature_text(info['signature'])}",
        f"  parity      {info['parity'].get('status')}",
        f"  classes     {info['target']['classes']} (label: the arg-max)"
        if info.get("target")
        else f"  threshold   {info['threshold'].get('value')} ({info['threshold'].get('rule')})",
        "  metrics     "
        + ", ".join(
            f"{k}={v:.4g}" for k, v in sorted(info["metrics"].items()) if isinstance(v, int | float)
        ),
        "  inputs",
    ]
    for entry in info["inputs"]:
        extra = ""
        if entry["kind"] == CATEGORICAL:
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
        keys = [k.strip() for k in args.trusted_keys.split(",") if k.strip()]
        info = describe(Path(args.path), args.sha256, keys)
    except ModelRefused as error:
        print(f"tabship inspect: {error}", file=sys.stderr)
        return 1
    print(json.dumps(info, indent=2, sort_keys=True) if args.json else _text(info))
    bad_signature = info["signature"]["check"] in ("INVALID", "CHANGED") or (
        bool(keys) and info["signature"]["check"] != "verified"
    )
    return 1 if info["sha256"]["check"] == "MISMATCH" or bad_signature else 0
