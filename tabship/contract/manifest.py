"""The manifest's vocabulary (keys, input kinds, outputs) and the one structural check.

The export side writes the full document described by manifest.schema.json (beside this file);
every reader (the server, `tabship inspect`, the batch scorer) runs `check_manifest` on it. The
schema is the export side's full description; tests/test_contract.py proves the two agree on
everything this check covers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tabship.contract.errors import ModelRefused
from tabship.contract.target import BINARY_DECISION_TYPE, target_problem

SCHEMA_PATH = Path(__file__).with_name("manifest.schema.json")
# Where the graph carries its own manifest (ModelProto.metadata_props).
METADATA_KEY = "tabship.manifest"
MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.onnx"
MANIFEST_VERSION = (
    1  # a binary target; version 2 adds the multiclass target (tabship/contract/target.py)
)
MANIFEST_VERSIONS = (1, 2)

NUMERIC, CATEGORICAL = "numeric", "categorical"
# A categorical input's "matching": tabship's spelling rules (the default) or, for a user's own
# encoder, the categories exactly as written.
SPELLING_MATCHING, EXACT_MATCHING = "spelling", "exact"
# A manifest input's "unknown": categories outside the known ones go to the graph's unknown
# bucket (the default), or are refused (a user's encoder with handle_unknown="error").
UNKNOWN_KEY, UNKNOWN_ACCEPTED, UNKNOWN_REFUSED = "unknown", "accepted", "refused"
# A manifest input's kind -> the ONNX type of the graph input that reads it.
KIND_ONNX_TYPES = {NUMERIC: "tensor(double)", CATEGORICAL: "tensor(string)"}

LABEL, PROBABILITIES, DECISION = "label", "probabilities", "decision"
# The graph's outputs, in the manifest's order, with their ONNX types.
OUTPUT_TYPES = {
    LABEL: "tensor(int64)",
    PROBABILITIES: "tensor(float)",
    DECISION: BINARY_DECISION_TYPE,
}
OUTPUT_NAMES = tuple(OUTPUT_TYPES)


def check_manifest(value: Any, where: str) -> dict[str, Any]:
    """The structural checks a reader needs (the full JSON Schema lives on the export side)."""

    def fail(why: str) -> ModelRefused:
        return ModelRefused(f"{where}: not a tabship manifest: {why}")

    if not isinstance(value, dict):
        raise fail("not a JSON object")
    version = value.get("manifest_version")
    if isinstance(version, bool) or version not in MANIFEST_VERSIONS:
        raise fail(f"manifest_version {version!r} is not 1 or 2")
    for key in ("name", "version"):
        if not isinstance(value.get(key), str) or not value[key]:
            raise fail(f"{key} missing")
    inputs = value.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise fail("inputs missing")
    seen: set[str] = set()
    for entry in inputs:
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("name"), str)
            or not entry["name"]
        ):
            raise fail("an input has no name")
        name = entry["name"]
        if name in seen:
            raise fail(f"input {name!r} twice")
        seen.add(name)
        kind = entry.get("kind")
        expected = KIND_ONNX_TYPES.get(str(kind))
        if expected is None:
            raise fail(f"input {name!r}: kind {kind!r}")
        if entry.get("onnx_type") != expected:
            raise fail(f"input {name!r}: onnx_type {entry.get('onnx_type')!r} for kind {kind}")
        if not isinstance(entry.get("nullable"), bool):
            raise fail(f"input {name!r}: nullable missing")
        if (problem := rules_problem(entry)) is not None:
            raise fail(f"input {name!r}: {problem}")
        if kind == CATEGORICAL:
            if not isinstance(entry.get("categories", []), list) or not all(
                isinstance(c, str) for c in entry.get("categories", [])
            ):
                raise fail(f"input {name!r}: categories must be strings")
            aliases = entry.get("aliases", {})
            if not isinstance(aliases, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in aliases.items()
            ):
                raise fail(f"input {name!r}: aliases must map text to text")
            if entry.get("matching", SPELLING_MATCHING) not in (SPELLING_MATCHING, EXACT_MATCHING):
                raise fail(f"input {name!r}: matching {entry.get('matching')!r}")
            if not isinstance(entry.get("integer_codes", False), bool):
                raise fail(f"input {name!r}: integer_codes must be a boolean")
            max_length = entry.get("max_length")
            if max_length is not None and (
                not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1
            ):
                raise fail(f"input {name!r}: max_length must be an integer >= 1")
    if (problem := target_problem(value)) is not None:
        raise fail(problem)
    outputs = value.get("outputs")
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise fail("outputs missing")
    if not isinstance(value.get("onnx"), dict):
        raise fail("onnx missing")
    parity = value.get("parity")
    if not isinstance(parity, dict) or not isinstance(parity.get("status"), str):
        raise fail("parity.status missing")
    return value


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def rules_problem(entry: Mapping[str, Any]) -> str | None:
    """An input's rules from the fitted pipeline (a user's own): `domain` (numeric: the
    smallest and largest value it can score, inclusive, null for no bound), `unknown`
    ("refused": only `categories`, or a numeric input's `values`, are accepted)."""
    domain = entry.get("domain")
    if domain is not None:
        if entry.get("kind") != NUMERIC or not isinstance(domain, dict):
            return "domain is for numeric inputs, an object"
        if set(domain) - {"min", "max"} or not all(
            domain.get(k) is None or _number(domain[k]) for k in ("min", "max")
        ):
            return "domain takes min and max, numbers or null"
    unknown = entry.get(UNKNOWN_KEY, UNKNOWN_ACCEPTED)
    if unknown not in (UNKNOWN_ACCEPTED, UNKNOWN_REFUSED):
        return f"unknown {unknown!r}"
    values = entry.get("values")
    if values is not None and (
        entry.get("kind") != NUMERIC
        or not isinstance(values, list)
        or not all(_number(v) for v in values)
    ):
        return "values are a numeric input's numbers"
    if unknown == UNKNOWN_REFUSED and entry.get("kind") == NUMERIC and values is None:
        return "unknown values refused without values"
    if unknown == UNKNOWN_REFUSED and entry.get("kind") == CATEGORICAL:
        if entry.get("matching") != EXACT_MATCHING:  # consumers match refused ones as written
            return "unknown categories are refused only with matching 'exact'"
    return None


def embedded_manifest(metadata: Mapping[str, str], where: str) -> Any | None:
    """The manifest a graph carries in metadata_props (parsed, not yet checked), or None."""
    if METADATA_KEY not in metadata:
        return None
    try:
        return json.loads(metadata[METADATA_KEY])
    except (ValueError, RecursionError):
        raise ModelRefused(f"{where}: metadata_props {METADATA_KEY} is not JSON") from None
