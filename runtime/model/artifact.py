"""Resolving MODEL_URI to verified model bytes and a manifest, before any session exists.

`load_artifact(settings)` is the one entry point (the HTTP server and the batch scorer share it).
Every refusal raises `ModelRefused` with a one-line reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tabship.contract import object_store, signature
from tabship.contract.errors import MissingFile, ModelRefused
from tabship.contract.explanations import (
    EXPLAINER_FILE,
    MAX_FILE_BYTES,
    SECTION,
    check_explanations,
)
from tabship.contract.manifest import (
    MANIFEST_FILE,
    METADATA_KEY,
    MODEL_FILE,
    check_manifest,
    embedded_manifest,
)
from tabship.runtime.model import download
from tabship.runtime.model.onnx_wire import OnnxFacts, WireError, read_facts
from tabship.runtime.settings import Settings

ALLOWED_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})
MAX_MANIFEST_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Artifact:
    """A model file that passed every check, ready for one InferenceSession."""

    model_bytes: bytes
    manifest: dict[str, Any]
    sha256: str
    model_location: str
    manifest_source: str  # "manifest.json" location or "metadata_props"
    sha256_checked_against: tuple[str, ...]  # "manifest", "MODEL_SHA256"
    facts: OnnxFacts
    signed_by: str | None = None  # key id of a verified manifest.sig (TABSHIP_TRUSTED_KEYS)
    explainer_bytes: bytes | None = None  # explainer.json, verified against the manifest

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def version(self) -> str:
        return str(self.manifest["version"])


# --- fetching -------------------------------------------------------------------------------


def _is_remote(uri: str) -> bool:
    return urlsplit(uri).scheme.lower() in {"http", "https"}


def _local_path(uri: str) -> Path:
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ModelRefused(f"{uri}: file:// URIs must name a local path")
        return Path(unquote(parts.path))
    if scheme and len(scheme) > 1:  # "c:" style drive letters are paths, anything else is not
        raise ModelRefused(
            f"{uri}: unsupported URI scheme {scheme!r} (use a path, file://, http(s)://)"
        )
    return Path(uri)


def fetch_url(url: str, settings: Settings, max_bytes: int | None = None) -> bytes:
    """GET under the settings' caps, time limits and redirect rule (runtime.download)."""
    return download.fetch_url(
        url,
        settings.fetch_max_bytes if max_bytes is None else max_bytes,
        connect_timeout_s=settings.fetch_connect_timeout_s,
        read_timeout_s=settings.fetch_read_timeout_s,
        timeout_s=settings.fetch_timeout_s,
        min_bytes_per_s=settings.fetch_min_bytes_per_s,
        redirect_hosts=settings.fetch_redirect_hosts,
    )


def _fetch(uri: str, settings: Settings, max_bytes: int | None = None) -> bytes:
    if object_store.is_object_uri(uri):
        return object_store.read(
            uri,
            settings.fetch_max_bytes if max_bytes is None else max_bytes,
            connect_timeout_s=settings.fetch_connect_timeout_s,
            read_timeout_s=settings.fetch_read_timeout_s,
            timeout_s=settings.fetch_timeout_s,
        )
    if _is_remote(uri):
        return fetch_url(uri, settings, max_bytes)
    return download.read_local(
        _local_path(uri), settings.fetch_max_bytes if max_bytes is None else max_bytes
    )


def fetch(uri: str, settings: Settings, max_bytes: int | None = None) -> bytes:
    """The bytes at a path, file://, http(s):// or object-store URI, under the same caps and
    refusals as the model itself (files beside it, such as the report's plots, use this)."""
    return _fetch(uri, settings, max_bytes)


def _check_signature(
    manifest: bytes, manifest_location: str, trusted: dict[str, Any], settings: Settings
) -> str:
    """The key id that signed these manifest bytes; refuses a missing or invalid signature."""
    location = settings.signature_uri or signature.sibling(manifest_location)
    shown = location.split("?", 1)[0]
    try:
        data = _fetch(location, settings, signature.MAX_SIGNATURE_BYTES)
    except MissingFile:
        raise ModelRefused(
            f"no signature: {shown} does not exist, and TABSHIP_TRUSTED_KEYS requires a valid "
            "one (sign the version with `tabship sign`)"
        ) from None
    return signature.verify(manifest, data, trusted, shown)


def _parse_manifest(data: bytes, where: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as error:
        raise ModelRefused(f"{where}: manifest is not JSON ({error})") from None
    return check_manifest(value, where)


def _resolve(uri: str, settings: Settings) -> tuple[str, str | None]:
    """(model location, manifest location or None)."""
    manifest_uri = settings.manifest_uri
    if object_store.is_object_uri(uri):
        object_store.split(uri)  # a bucket, no query
        if uri.endswith(".onnx"):
            return uri, manifest_uri
        base = uri.rstrip("/") + "/"
        return base + MODEL_FILE, manifest_uri or base + MANIFEST_FILE
    if _is_remote(uri):
        if urlsplit(uri).path.endswith(".onnx"):
            return uri, manifest_uri
        base = uri.split("?", 1)[0].rstrip("/") + "/"
        return base + MODEL_FILE, manifest_uri or base + MANIFEST_FILE
    path = _local_path(uri)
    if path.is_dir():
        manifest_path = path / MANIFEST_FILE
        if manifest_uri is None and not os.path.lexists(manifest_path):
            raise ModelRefused(f"{path}: a version directory needs {MANIFEST_FILE}")
        return str(path / MODEL_FILE), manifest_uri or str(manifest_path)
    if not path.exists():
        raise ModelRefused(f"{path}: no such file or directory")
    beside = path.with_name(MANIFEST_FILE)
    if manifest_uri is None and beside.is_file():
        try:
            described = (
                json.loads(download.read_local(beside, MAX_MANIFEST_BYTES))
                .get("onnx", {})
                .get("file")
            )
        except (ValueError, AttributeError, ModelRefused):
            described = None
        if described == path.name:
            return str(path), str(beside)
    return str(path), manifest_uri


# --- checks ---------------------------------------------------------------------------------


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = "".join(c for c in piece if c.isdigit()) if piece else ""
        if not digits or not piece.startswith(digits):
            break
        parts.append(int(digits))
    return tuple(parts)


def onnxruntime_version() -> str:
    loaded = sys.modules.get("onnxruntime")  # the server's: no metadata scan (~3 ms) needed
    if isinstance(getattr(loaded, "__version__", None), str):
        return str(loaded.__version__)  # type: ignore[union-attr]
    from importlib import metadata

    try:
        return metadata.version("onnxruntime")
    except metadata.PackageNotFoundError:
        return "0"


def _check_structure(facts: OnnxFacts, where: str) -> None:
    if facts.external_data:
        raise ModelRefused(
            f"{where}: tensors stored outside the file (external data) are refused: "
            f"{', '.join(facts.external_data[:5])}"
        )
    unknown = sorted((set(facts.opsets) | facts.node_domains) - ALLOWED_DOMAINS)
    if unknown:
        raise ModelRefused(
            f"{where}: operator domains {unknown} are refused; only '' (ai.onnx) and ai.onnx.ml"
        )
    if facts.functions:
        raise ModelRefused(f"{where}: model-local functions are refused: {facts.functions[:5]}")


def _same_contract(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return [
        key
        for key in ("name", "version", "inputs", "outputs", "threshold", "target")
        if a.get(key) != b.get(key)
    ]


def _sibling(location: str, name: str) -> str:
    """`name` beside a model path, URL or object key (a query is dropped)."""
    folder, slash, _ = location.split("?", 1)[0].rpartition("/")
    return f"{folder}{slash}{name}"


def _explainer(model_location: str, manifest: dict[str, Any], settings: Settings) -> bytes:
    """explainer.json beside the graph, checked against the manifest as the graph is."""
    section = check_explanations(manifest["explanations"], f"{manifest['name']} manifest")
    location = _sibling(model_location, EXPLAINER_FILE)
    shown = location.split("?", 1)[0]
    try:
        data = _fetch(location, settings, MAX_FILE_BYTES)
    except MissingFile:
        raise ModelRefused(
            f"{shown} does not exist, and the manifest's explanations name it"
        ) from None
    sha256 = hashlib.sha256(data).hexdigest()
    if sha256 != section["sha256"].lower():
        raise ModelRefused(
            f"{shown}: SHA-256 {sha256} does not match the manifest's {section['sha256']}: "
            "the file was modified or belongs to another version"
        )
    if len(data) != section["bytes"]:
        raise ModelRefused(f"{shown}: {len(data)} bytes, the manifest says {section['bytes']}")
    return data


def load_artifact(settings: Settings, uri: str | None = None) -> Artifact:
    """Fetches and verifies the model named by `uri` (default: settings.model_uri).

    Refuses (ModelRefused): a missing/unreadable/oversized file, bytes that are not ONNX, a SHA-256
    that differs from manifest.onnx.sha256 or the MODEL_SHA256 pin, a file with neither to check
    against, external data, operator domains other than ai.onnx / ai.onnx.ml, model-local
    functions, an embedded manifest that disagrees with manifest.json, an onnxruntime older than
    manifest.onnx.min_onnxruntime, parity.status != "passed" unless settings.allow_ungated, and
    an explainer.json (named by the manifest's explanations) missing or not matching its hash.
    With settings.trusted_keys, also a manifest without a valid signature by one of them
    (contract.signature), checked before anything in the manifest is used.
    Graph-vs-manifest inputs/outputs are checked when the session exists (runtime.model).
    """
    uri = uri or settings.model_uri
    if not uri:
        raise ModelRefused("no model: set MODEL_URI (or pass --model)")
    # keys first: a configuration error shows before any download
    trusted = signature.load_trusted_keys(settings.trusted_keys) if settings.trusted_keys else {}
    model_location, manifest_location = _resolve(uri, settings)
    manifest_file = None
    signed_by = None
    if manifest_location is not None:
        manifest_bytes = _fetch(manifest_location, settings, MAX_MANIFEST_BYTES)
        if trusted:
            # before the manifest is believed: it is what vouches for the model's hash
            signed_by = _check_signature(manifest_bytes, manifest_location, trusted, settings)
        manifest_file = _parse_manifest(manifest_bytes, manifest_location.split("?")[0])
        if manifest_file.get("onnx", {}).get("file", MODEL_FILE) != MODEL_FILE:
            raise ModelRefused(f"{manifest_location}: onnx.file must be {MODEL_FILE!r}")
    shown = model_location.split("?", 1)[0]
    if trusted and manifest_file is None:
        raise ModelRefused(
            f"{shown}: TABSHIP_TRUSTED_KEYS is set and this model has no manifest.json to carry "
            "a signature (serve the signed version directory, or set TABSHIP_MANIFEST_URI)"
        )
    data = _fetch(model_location, settings)
    if not data:
        raise ModelRefused(f"{shown}: empty file")
    sha256 = hashlib.sha256(data).hexdigest()
    checked: list[str] = []
    if manifest_file is not None:
        expected = manifest_file["onnx"].get("sha256")
        if not isinstance(expected, str):
            if settings.model_sha256 is None:
                raise ModelRefused(
                    f"{manifest_location}: onnx.sha256 missing, cannot verify {shown}"
                )
        elif expected.lower() != sha256:
            raise ModelRefused(
                f"{shown}: SHA-256 {sha256} does not match the manifest's {expected}: "
                "the file was modified or belongs to another version"
            )
        else:
            checked.append("manifest")
        size = manifest_file["onnx"].get("bytes")
        if isinstance(size, int) and size != len(data):
            raise ModelRefused(f"{shown}: {len(data)} bytes, the manifest says {size}")
    if settings.model_sha256 is not None:
        if settings.model_sha256 != sha256:
            raise ModelRefused(
                f"{shown}: SHA-256 {sha256} is not the MODEL_SHA256 pin {settings.model_sha256}"
            )
        checked.append("MODEL_SHA256")
    if not checked:
        raise ModelRefused(
            f"{shown}: nothing to verify its SHA-256 against: serve the version directory "
            "(with manifest.json) or set MODEL_SHA256"
        )
    try:
        facts = read_facts(data)
    except WireError as error:
        raise ModelRefused(f"{shown}: not a valid ONNX file ({error})") from None
    _check_structure(facts, shown)

    embedded = embedded_manifest(facts.metadata, shown)
    if manifest_file is not None:
        manifest = manifest_file
        if embedded is not None:
            differ = _same_contract(manifest, embedded)
            if differ:
                raise ModelRefused(
                    f"{shown}: the embedded manifest and {manifest_location} disagree on {differ}"
                )
    elif embedded is not None:
        manifest = check_manifest(embedded, f"{shown} metadata_props")
    else:
        raise ModelRefused(f"{shown}: no manifest.json and no {METADATA_KEY} in metadata_props")

    minimum = manifest["onnx"].get("min_onnxruntime")
    installed = onnxruntime_version()
    if isinstance(minimum, str) and _version_tuple(installed) < _version_tuple(minimum):
        raise ModelRefused(f"{shown}: needs onnxruntime >= {minimum}, {installed} is installed")
    status = manifest["parity"]["status"]
    if status != "passed" and not settings.allow_ungated:
        hint = (
            " (a lone .onnx carries the manifest from before the gate: serve the version directory)"
            if manifest_file is None
            else ""
        )
        raise ModelRefused(
            f"{manifest['name']} {manifest['version']}: parity.status is {status!r}, not 'passed'; "
            f"refusing an ungated model (TABSHIP_ALLOW_UNGATED=1 overrides){hint}"
        )
    # file-only (like parity): a lone .onnx carries no explanations
    explainer = (
        _explainer(model_location, manifest, settings)
        if manifest_file is not None and SECTION in manifest
        else None
    )
    return Artifact(
        explainer_bytes=explainer,
        model_bytes=data,
        manifest=manifest,
        sha256=sha256,
        model_location=shown,
        manifest_source=(manifest_location or "").split("?")[0]
        if manifest_file
        else "metadata_props",
        sha256_checked_against=tuple(checked),
        facts=facts,
        signed_by=signed_by,
    )
