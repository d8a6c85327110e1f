"""The manifest: one JSON document that makes a model version explain itself."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from tabship.contract.manifest import KIND_ONNX_TYPES
from tabship.contract.manifest import METADATA_KEY as METADATA_KEY  # re-exported: export's callers
from tabship.contract.manifest import SCHEMA_PATH as SCHEMA_PATH
from tabship.contract.rules import MAX_TEXT_LENGTH
from tabship.training.contract import CategoryEncoder
from tabship.training.declaration import Declaration

LIBRARIES = (
    "numpy",
    "pandas",
    "scikit-learn",
    "xgboost",
    "skl2onnx",
    "onnxmltools",
    "onnx",
    "onnxruntime",
)
# Only these depend on the file's own bytes; the embedded copy leaves them out.
FILE_KEYS = ("sha256", "bytes")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        versions[name] = metadata.version(name)
    return versions


def git_state(where: Path | None = None) -> dict[str, Any]:
    """The commit the training ran from: $TABSHIP_GIT_SHA when set (a CI job that knows its
    commit), else git's answer in the training's working directory (never the installed
    package's folder, which in a wheel install is site-packages or the user's unrelated repo)."""
    given = os.environ.get("TABSHIP_GIT_SHA", "").strip()
    if given:
        return {"sha": given, "dirty": None}
    where = where or Path.cwd()
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=where,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {"sha": None, "dirty": None}
    return {"sha": sha, "dirty": bool(status.strip())}


def input_schema(
    pipeline: Pipeline, declaration: Declaration, train_frame: Any
) -> list[dict[str, Any]]:
    """Per raw column: type, nullability, cleaning, known categories, observed range."""
    contract = pipeline.named_steps["contract"]
    cleaned: dict[str, np.ndarray] = {}
    categories: dict[str, list[str]] = {}
    for branch, transformer, columns in contract.transformers_:
        if branch == "numeric":
            values = transformer.named_steps["clean"].transform(train_frame[columns])
            cleaned.update({c: values[:, i] for i, c in enumerate(columns)})
        elif isinstance(transformer, CategoryEncoder):
            categories.update({c: list(transformer.categories_[i]) for i, c in enumerate(columns)})
    schema = []
    for column in declaration.columns:
        entry: dict[str, Any] = {
            "name": column.name,
            "kind": column.kind,
            "onnx_type": KIND_ONNX_TYPES[column.kind],
            "shape": ["N", 1],
            "nullable": column.nullable,
            "cleaning": column.cleaning_rules(),
        }
        if column.kind == "numeric":
            values = cleaned[column.name]
            finite = values[~np.isnan(values)]
            entry["bounds"] = {"min": column.minimum, "max": column.maximum}
            entry["range"] = (
                {"min": float(finite.min()), "max": float(finite.max())} if finite.size else None
            )
        else:
            entry["categories"] = categories[column.name]
            entry["aliases"] = dict(sorted(column.aliases.items()))
            entry["integer_codes"] = column.integer_codes
            entry["max_length"] = MAX_TEXT_LENGTH
        schema.append(entry)
    return schema


def report_record(folder: Path) -> dict[str, Any]:
    """SHA-256 and size of every file of the training report that export copies into the
    version's report/ folder: a server shows only plots that match (runtime/page/plots.py)."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        files[path.relative_to(folder).as_posix()] = {
            "sha256": sha256_bytes(data),
            "bytes": len(data),
        }
    return {"folder": "report", "files": files}


def embedded_copy(manifest: dict[str, Any]) -> dict[str, Any]:
    embedded = copy.deepcopy(manifest)
    for key in FILE_KEYS:
        embedded["onnx"].pop(key, None)
    # the evidence's hashes are the file's (signed) business, not the graph's
    embedded.pop("evidence", None)
    return embedded


def dumps(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False) + "\n"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
