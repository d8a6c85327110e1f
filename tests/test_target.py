"""The target object (tabship/contract/target.py) and the rule that the serving, OIP, OpenAPI
and gate code ask it instead of branching on binary vs multiclass."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np

from tabship.contract.target import BinaryTarget, MulticlassTarget, target_of

REPO = Path(__file__).resolve().parents[1]
# Where a binary/multiclass branch used to sit and the target object answers now.
NO_TARGET_BRANCHES = [
    "runtime/model/session.py",
    "runtime/dataplane/plane.py",
    "runtime/dataplane/service.py",
    "runtime/dataplane/explaining.py",
    "runtime/dataplane/oip_infer.py",
    "runtime/rest/openapi.py",
    "runtime/rest/openapi_explain.py",
    "parity_tests/compare.py",
    "runtime/page/render.py",
    "runtime/batch/chunks.py",
    "runtime/batch/capture_parquet.py",
    "runtime/live/capture.py",
    "parity_tests/vectors.py",
]


def test_target_of_reads_the_manifest() -> None:
    binary = target_of({"manifest_version": 1, "threshold": {"value": 0.35}})
    assert isinstance(binary, BinaryTarget)
    assert binary.threshold == 0.35
    assert binary.width == 2
    multi = target_of({"target": {"kind": "multiclass", "classes": ["a", "b", "c"]}})
    assert isinstance(multi, MulticlassTarget)
    assert multi.classes == ["a", "b", "c"]
    assert multi.oip_outputs()["decision"] == ("BYTES", [-1])
    assert binary.oip_outputs()["probabilities"] == ("FP32", [-1, 2])


def test_answers_send_non_finite_probabilities_as_null_and_count_them() -> None:
    p = np.array([[0.2, 0.8], [math.nan, math.nan]], dtype=np.float32)
    rows, bad = BinaryTarget(0.5).answers(p, [1, 0])
    assert rows[1] == {"probability": None, "label": 0}
    assert bad == 1
    assert rows[0]["label"] == 1
    assert abs(rows[0]["probability"] - 0.8) < 1e-7
    three = np.array([[0.1, 0.7, 0.2], [math.inf, 0.0, 0.0]])
    rows, bad = MulticlassTarget(["a", "b", "c"]).answers(three, ["b", "a"])
    assert rows[0] == {"probabilities": {"a": 0.1, "b": 0.7, "c": 0.2}, "label": "b"}
    assert rows[1]["probabilities"]["a"] is None
    assert bad == 1


def test_flips_count_each_kind_its_own_way() -> None:
    binary = BinaryTarget(0.3)
    reference = np.array([0.2, 0.4, 0.6])
    assert binary.flips(
        reference, np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([0, 1, 0])
    ) == (1, 1)
    multi = MulticlassTarget(["x", "y"])
    decisions = np.array(["x", "x"], dtype=object)
    assert multi.flips(np.zeros((2, 2)), np.array([0, 1]), np.array([0, 0]), decisions) == (1, 1)


def _target_branches(path: Path) -> list[int]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.If | ast.IfExp):
            names = {n.id for n in ast.walk(node.test) if isinstance(n, ast.Name)}
            names |= {n.attr for n in ast.walk(node.test) if isinstance(n, ast.Attribute)}
            if names & {"classes", "multiclass"}:
                found.append(node.lineno)
    return found


def test_serving_and_gate_code_do_not_branch_on_the_target_kind() -> None:
    branches = {p: _target_branches(REPO / p) for p in NO_TARGET_BRANCHES}
    assert {p: lines for p, lines in branches.items() if lines} == {}
