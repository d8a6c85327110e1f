"""What the manifest says the model predicts: a binary target at a threshold (manifest
version 1) or a multiclass target, its classes in the order of the probability columns
(version 2). Every serving and batch path asks here instead of reading the keys itself."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

# The graph's `decision` output: 0/1 at the threshold (binary) or the class name (multiclass).
BINARY_DECISION_TYPE = "tensor(int64)"
MULTICLASS_DECISION_TYPE = "tensor(string)"


def classes_of(manifest: dict[str, Any]) -> list[str] | None:
    """The class names of a multiclass model, else None (binary)."""
    target = manifest.get("target")
    if isinstance(target, dict) and target.get("kind") == "multiclass":
        return list(target["classes"])
    return None


def decision_type(manifest: dict[str, Any]) -> str:
    """The graph's `decision` output: the class name (multiclass) or 0/1 at the threshold."""
    return MULTICLASS_DECISION_TYPE if classes_of(manifest) is not None else BINARY_DECISION_TYPE


def target_problem(value: dict[str, Any]) -> str | None:
    """What is wrong with the manifest's target (version 1: the threshold; version 2: the
    classes), or None. The Node consumer's checkManifest says the same words."""
    if value.get("manifest_version") == 1:
        threshold = value.get("threshold")
        t = threshold.get("value") if isinstance(threshold, dict) else None
        if not isinstance(t, int | float) or isinstance(t, bool) or not (0 <= t <= 1):
            return "threshold.value must be a number in [0, 1]"
        return None
    target = value.get("target")
    classes = target.get("classes") if isinstance(target, dict) else None
    if (
        not isinstance(target, dict)
        or target.get("kind") != "multiclass"
        or not isinstance(classes, list)
        or len(classes) < 2
        or not all(isinstance(c, str) and c for c in classes)
        or len(set(classes)) != len(classes)
    ):
        return (
            "manifest_version 2 needs target.kind multiclass and two or more distinct "
            "non-empty target.classes"
        )
    return None


_UNSAFE = re.compile(r"[^0-9A-Za-z_]+")


def probability_columns(classes: list[str], taken: Sequence[str] = ()) -> list[str]:
    """`probability_<class>` per class for batch output: characters other than ASCII letters,
    digits and `_` become `_`; names equal without regard to case (or equal to a `taken` column)
    get `_2`, `_3`... so every engine (CSV readers, SQL, Spark) sees distinct columns."""
    used = {name.lower() for name in taken}
    names = []
    for index, label in enumerate(classes):
        safe = _UNSAFE.sub("_", label).strip("_") or f"class{index}"
        base = f"probability_{safe}"
        name, n = base, 2
        while name.lower() in used:
            name, n = f"{base}_{n}", n + 1
        used.add(name.lower())
        names.append(name)
    return names
