"""The release gate passes a faithful graph and is shown to reject unfaithful ones."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from tabship.cli.main import main
from tabship.parity_tests.gate import check_parity
from tabship.training import evidence

pytestmark = pytest.mark.parity


def _load(version_dir: Path) -> tuple[Any, onnx.ModelProto, dict[str, Any], dict[str, Any]]:
    return (
        evidence.read(version_dir).pipeline,
        onnx.load(version_dir / "model.onnx"),
        json.loads((version_dir / "manifest.json").read_text()),
        evidence.read(version_dir).reference_data,
    )


def _by_name(results: list[Any]) -> dict[str, Any]:
    return {result.name: result for result in results}


def test_faithful_graph_passes_every_set(version_dir: Path) -> None:
    pipeline, model, manifest, data = _load(version_dir)
    explainer = (version_dir / "explainer.json").read_bytes()
    gate = check_parity(
        pipeline, model.SerializeToString(), manifest, data, generated=500, explainer=explainer
    )
    sets = _by_name(gate.results)
    assert set(sets) == {"test", "train", "boundary", "hostile", "generated"}
    assert all(result.rows > 0 for result in gate.results)
    assert sets["boundary"].rows > 1000  # a probe per threshold, not a token few
    for result in gate.results:
        assert result.max_abs_dp <= 1e-6, result
        assert result.flips == 0, result
        assert result.threshold_flips == 0, result
    assert gate.passed


def float32_inputs(model: onnx.ModelProto) -> onnx.ModelProto:
    """The common recipe's precision: numeric inputs declared float32 (same public names),
    widened to double only inside the graph."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    graph = copy.graph
    widened = {}
    for graph_input in graph.input:
        if graph_input.type.tensor_type.elem_type == TensorProto.DOUBLE:
            graph_input.type.tensor_type.elem_type = TensorProto.FLOAT
            widened[graph_input.name] = f"{graph_input.name}__double"
    for node in graph.node:
        node.input[:] = [widened.get(name, name) for name in node.input]
    casts = [
        helper.make_node("Cast", [name], [wide], to=TensorProto.DOUBLE)
        for name, wide in widened.items()
    ]
    nodes = [*casts, *graph.node]
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(copy)
    return copy


def test_float32_route_is_rejected_with_flips(version_dir: Path) -> None:
    pipeline, model, manifest, data = _load(version_dir)
    gate = check_parity(
        pipeline, float32_inputs(model).SerializeToString(), manifest, data, generated=500
    )
    assert not gate.passed
    flips = sum(r.flips + r.threshold_flips for r in gate.results)
    assert flips > 0, [r.as_dict() for r in gate.results]
    assert max(r.max_abs_dp for r in gate.results) > 1e-6


def _corrupt_first_split(model: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    trees = next(n for n in copy.graph.node if n.op_type == "TreeEnsembleClassifier")
    values = next(a for a in trees.attribute if a.name == "nodes_values")
    modes = next(a for a in trees.attribute if a.name == "nodes_modes")
    index = next(i for i, mode in enumerate(modes.strings) if mode != b"LEAF")
    value = np.float32(values.floats[index])
    values.floats[index] = float(np.nextafter(value, np.float32(np.inf), dtype=np.float32))
    return copy


def test_one_corrupted_tree_threshold_is_rejected(version_dir: Path) -> None:
    pipeline, model, manifest, data = _load(version_dir)
    gate = check_parity(
        pipeline, _corrupt_first_split(model).SerializeToString(), manifest, data, generated=500
    )
    assert not gate.passed
    assert _by_name(gate.results)["boundary"].max_abs_dp > 1e-6


def test_cli_records_result_without_touching_the_graph(
    version_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "version"
    shutil.copytree(version_dir, copy)
    graph_hash = hashlib.sha256((copy / "model.onnx").read_bytes()).hexdigest()
    fixture = tmp_path / "fixture.json"
    assert (
        main(
            [
                "parity",
                str(copy),
                "--generated-rows",
                "500",
                "--fixture",
                str(fixture),
                "--evidence",
                evidence.root_for_version(version_dir),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "boundary" in out
    assert "PASSED" in out
    manifest = json.loads((copy / "manifest.json").read_text())
    assert manifest["parity"]["status"] == "passed"
    assert {s["name"] for s in manifest["parity"]["sets"]} >= {"test", "boundary", "hostile"}
    assert hashlib.sha256((copy / "model.onnx").read_bytes()).hexdigest() == graph_hash
    assert manifest["onnx"]["sha256"] == graph_hash
    written = json.loads(fixture.read_text())
    assert written["model"]["sha256"] == graph_hash
    assert all(len(s["rows"]) == len(s["expected"]["probability"]) for s in written["sets"])


def test_cli_fails_on_a_corrupted_graph(version_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "version"
    shutil.copytree(version_dir, copy)
    corrupted = _corrupt_first_split(onnx.load(copy / "model.onnx")).SerializeToString()
    (copy / "model.onnx").write_bytes(corrupted)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["onnx"]["sha256"] = hashlib.sha256(corrupted).hexdigest()
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert (
        main(
            [
                "parity",
                str(copy),
                "--generated-rows",
                "500",
                "--evidence",
                evidence.root_for_version(version_dir),
            ]
        )
        == 1
    )
    assert json.loads((copy / "manifest.json").read_text())["parity"]["status"] == "failed"


def test_cli_refuses_what_is_not_a_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["parity", str(tmp_path)]) == 2
    assert "not a version directory" in capsys.readouterr().err


def test_cli_refuses_an_unreadable_manifest(
    version_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "version"
    shutil.copytree(version_dir, copy)
    (copy / "manifest.json").write_text("{")
    assert main(["parity", str(copy)]) == 2
    assert "unreadable manifest" in capsys.readouterr().err


def test_cli_refuses_a_manifest_the_contract_refuses(
    version_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "version"
    shutil.copytree(version_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["inputs"][0]["onnx_type"] = "tensor(float)"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert main(["parity", str(copy)]) == 2
    err = capsys.readouterr().err
    assert "unreadable manifest" in err
    assert "not a tabship manifest" in err
