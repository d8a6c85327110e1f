"""The manifest: one JSON document that makes a model version explain itself."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from tabship.contract.manifest import (
    CATEGORICAL,
    EXACT_MATCHING,
    KIND_ONNX_TYPES,
    NUMERIC,
    UNKNOWN_KEY,
    UNKNOWN_REFUSED,
)
from tabship.contract.manifest import METADATA_KEY as METADATA_KEY  # re-exported: export's callers
from tabship.contract.manifest import SCHEMA_PATH as SCHEMA_PATH
from tabship.contract.rules import MAX_TEXT_LENGTH
from tabship.training.contract import CategoryEncoder
from tabship.training.declaration import Declaration
from tabship.training.own.contract import categories_seen, numeric_range
from tabship.training.own.reference import raw_columns, user_steps

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
    if raw_columns(pipeline) is not None:
        return own_input_schema(pipeline, declaration, train_frame)
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


OWN_NUMERIC_CLEANING = [
    "text is parsed as a number; text that is not a number becomes missing",
    "infinite values become missing",
    "the fitted pipeline's own steps follow, computed as scikit-learn computes them",
]
OWN_CATEGORICAL_CLEANING = [
    "text is compared with the fitted categories exactly (letter case and spaces count), "
    "unless a tabship.steps category step reads the column",
    "null and empty text are the one missing value",
    "numbers are read as text: integral numbers as decimal integers (2.0 -> '2')",
]


def own_input_schema(
    pipeline: Pipeline, declaration: Declaration, train_frame: Any
) -> list[dict[str, Any]]:
    """A user's own pipeline: the same schema, read from the training data (categories
    seen, observed range), with what its fitted steps refuse (export/standard/domains.py):
    a missing value where nothing imputes it first (nullable false), numbers outside the
    domain, unknown categories where an encoder refuses them."""
    from tabship.export.standard.domains import derive_rules

    kinds = [(c.name, c.kind == CATEGORICAL) for c in declaration.columns]
    rules = derive_rules(user_steps(pipeline), kinds, train_frame)
    schema = []
    for column in declaration.columns:
        rule = rules.get(column.name)
        entry: dict[str, Any] = {
            "name": column.name,
            "kind": column.kind,
            "onnx_type": KIND_ONNX_TYPES[column.kind],
            "shape": ["N", 1],
            "nullable": rule is None or rule.missing,
        }
        if column.kind == "numeric":
            entry["cleaning"] = OWN_NUMERIC_CLEANING
            entry["bounds"] = {"min": None, "max": None}
            entry["range"] = numeric_range(train_frame, column.name)
        else:
            entry["cleaning"] = OWN_CATEGORICAL_CLEANING
            entry["categories"] = categories_seen(train_frame, column.name)
            entry["aliases"] = {}
            entry["integer_codes"] = False
            entry["matching"] = EXACT_MATCHING
            entry["max_length"] = MAX_TEXT_LENGTH
        if rule is not None:
            _add_rules(entry, rule)
        schema.append(entry)
    return schema


def _add_rules(entry: dict[str, Any], rule: Any) -> None:
    if entry["kind"] == NUMERIC and (math.isfinite(rule.minimum) or math.isfinite(rule.maximum)):
        entry["domain"] = {
            "min": rule.minimum if math.isfinite(rule.minimum) else None,
            "max": rule.maximum if math.isfinite(rule.maximum) else None,
        }
    if rule.known is not None:
        entry[UNKNOWN_KEY] = UNKNOWN_REFUSED
        if entry["kind"] == NUMERIC:
            entry["values"] = sorted(rule.known)
        else:
            entry["categories"] = sorted(rule.known)
    entry["rules"] = list(rule.why)


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
