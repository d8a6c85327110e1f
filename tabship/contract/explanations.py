"""What a version says about its explanations: the manifest's `explanations` section and the
file beside the graph that carries what TreeSHAP needs beyond the ONNX trees (node covers).

Export writes both (tabship/export/explainer.py); the server (tabship/runtime/explain/) and
the gate read them. The file is JSON, hash-checked against the manifest like the graph:

    {"format": FORMAT, "tree_ids": [...], "node_ids": [...], "covers": [...]}

one entry per node of the graph's tree ensemble, in the order of its nodes_* attributes
(ids repeated so that a reader can refuse a file made for another graph).
"""

from __future__ import annotations

from typing import Any

from tabship.contract.errors import ModelRefused

EXPLAINER_FILE = "explainer.json"
FORMAT = "tabship.treeshap/1"
SECTION = "explanations"
METHOD = "path-dependent TreeSHAP over the graph's trees (xgboost pred_contribs=True)"
SCALE = "margin"  # log-odds (binary), each class's raw score (multiclass): before the link
BIAS = "bias"  # the name of the expected-value term, as xgboost's last contribs column
MAX_FILE_BYTES = 256 * 1024 * 1024


def explanations_of(manifest: dict[str, Any]) -> dict[str, Any] | None:
    section = manifest.get(SECTION)
    return section if isinstance(section, dict) else None


def check_explanations(section: Any, where: str) -> dict[str, Any]:
    """The structural check of a manifest's `explanations` section (ModelRefused)."""

    def fail(why: str) -> ModelRefused:
        return ModelRefused(f"{where}: explanations: {why}")

    if not isinstance(section, dict):
        raise fail("not an object")
    if section.get("file") != EXPLAINER_FILE:
        raise fail(f"file must be {EXPLAINER_FILE!r}")
    sha = section.get("sha256")
    if not isinstance(sha, str) or len(sha) != 64:
        raise fail("sha256 missing")
    size = section.get("bytes")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_FILE_BYTES:
        raise fail(f"bytes must be an integer in 1..{MAX_FILE_BYTES}")
    features, groups = section.get("features"), section.get("groups")
    if (
        not isinstance(features, list)
        or not features
        or not all(isinstance(f, str) and f for f in features)
        or len(set(features)) != len(features)
    ):
        raise fail("features must be distinct non-empty names")
    if (
        not isinstance(groups, list)
        or len(groups) != len(features)
        or not all(isinstance(g, str) and g for g in groups)
    ):
        raise fail("groups must name a column (or derived feature) per feature")
    if BIAS in groups or BIAS in features:
        raise fail(f"{BIAS!r} is the expected value's name, not a feature's")
    return section


def columns_of(section: dict[str, Any]) -> list[str]:
    """The explained columns: every group once, in the order of first appearance."""
    return list(dict.fromkeys(section["groups"]))
