"""The gate's contributions sets: the served explainer against xgboost's pred_contribs on the
test, boundary and hostile rows. Passes a faithful version (binary and multiclass), fails one
whose covers or leaves were nudged, refuses an explainer.json its manifest does not vouch for."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from tabship.cli.main import main
from tabship.parity_tests.contributions import BAR_MAX_ABS_DPHI
from tabship.parity_tests.gate import check_parity
from tabship.training import evidence

pytestmark = pytest.mark.parity


def _gate(folder: Path, model: bytes, explainer: bytes) -> Any:
    found = evidence.read(folder, None)
    return check_parity(
        found.pipeline,
        model,
        json.loads((folder / "manifest.json").read_text()),
        found.reference_data,
        generated=100,
        explainer=explainer,
    )


def test_faithful_version_passes(exported: Any) -> None:
    version_dir = exported.version_dir
    gate = _gate(
        version_dir,
        (version_dir / "model.onnx").read_bytes(),
        (version_dir / "explainer.json").read_bytes(),
    )
    by_name = {r.name: r for r in gate.contributions}
    assert set(by_name) == {"test", "boundary", "hostile"}
    for result in gate.contributions:
        assert result.rows > 0, result
        assert result.passed, result
        assert result.max_abs_dphi <= BAR_MAX_ABS_DPHI
    assert gate.passed


def test_multiclass_version_passes(penguins_version: Any) -> None:
    contributions = penguins_version.outcome["contributions"]
    assert contributions["bar"]["max_abs_dphi"] == BAR_MAX_ABS_DPHI
    assert {s["name"] for s in contributions["sets"]} == {"test", "boundary", "hostile"}
    assert all(s["passed"] and s["rows"] > 0 for s in contributions["sets"])
    manifest = json.loads((penguins_version.version_dir / "manifest.json").read_text())
    assert manifest["parity"]["contributions"] == contributions


def _nudged_cover(explainer: bytes) -> bytes:
    """The cover of the first tree's root's first child, 1 % larger."""
    content = json.loads(explainer)
    content["covers"][1] *= 1.01
    return json.dumps(content).encode()


def test_a_nudged_cover_fails(exported: Any) -> None:
    version_dir = exported.version_dir
    gate = _gate(
        version_dir,
        (version_dir / "model.onnx").read_bytes(),
        _nudged_cover((version_dir / "explainer.json").read_bytes()),
    )
    assert all(r.passed for r in gate.results)  # the probabilities do not see it
    assert not gate.passed
    for result in gate.contributions:
        assert not result.passed, result
        assert result.max_abs_dphi > 10 * BAR_MAX_ABS_DPHI, result


def _nudged_leaf(model: onnx.ModelProto, by: float) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    trees = next(n for n in copy.graph.node if n.op_type == "TreeEnsembleClassifier")
    weights = next(a for a in trees.attribute if a.name == "class_weights")
    weights.floats[0] = float(np.float32(weights.floats[0] + by))
    return copy


def test_a_nudged_leaf_fails(exported: Any) -> None:
    version_dir = exported.version_dir
    model = _nudged_leaf(onnx.load(version_dir / "model.onnx"), 1e-4)
    gate = _gate(
        version_dir, model.SerializeToString(), (version_dir / "explainer.json").read_bytes()
    )
    assert not gate.passed
    for result in gate.contributions:
        assert not result.passed, result
        assert result.max_abs_dphi > BAR_MAX_ABS_DPHI or result.max_abs_dbias > BAR_MAX_ABS_DPHI


def _revouch(folder: Path, explainer: bytes) -> None:
    """explainer.json replaced and the manifest updated to vouch for it (a faulty export)."""
    (folder / "explainer.json").write_bytes(explainer)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["explanations"]["sha256"] = hashlib.sha256(explainer).hexdigest()
    manifest["explanations"]["bytes"] = len(explainer)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_cli_table_report_and_verdict(
    exported: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "version"
    shutil.copytree(exported.version_dir, copy)
    # the copy's evidence stays where the release wrote it
    where = ["--evidence", evidence.root_for_version(exported.version_dir)]
    assert main(["parity", str(copy), "--generated-rows", "100", *where]) == 0
    out = capsys.readouterr().out
    assert "max |dphi|" in out
    assert "top-3 moved" in out
    report = json.loads((copy / "parity_report.json").read_text())
    assert [s["name"] for s in report["contributions"]["sets"]] == ["test", "boundary", "hostile"]
    assert report["contributions"]["bar"]["rank_changes"] == 0

    _revouch(copy, _nudged_cover((copy / "explainer.json").read_bytes()))
    assert main(["parity", str(copy), "--generated-rows", "100", *where]) == 1
    assert "FAIL" in capsys.readouterr().out
    manifest = json.loads((copy / "manifest.json").read_text())
    assert manifest["parity"]["status"] == "failed"
    assert not any(s["passed"] for s in manifest["parity"]["contributions"]["sets"])


def test_cli_refuses_an_explainer_the_manifest_does_not_vouch_for(
    exported: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "version"
    shutil.copytree(exported.version_dir, copy)
    where = ["--evidence", evidence.root_for_version(exported.version_dir)]
    (copy / "explainer.json").write_bytes(_nudged_cover((copy / "explainer.json").read_bytes()))
    assert main(["parity", str(copy), *where]) == 2
    assert "does not match the manifest's explanations SHA-256" in capsys.readouterr().err
    (copy / "explainer.json").unlink()
    assert main(["parity", str(copy), *where]) == 2
    assert "explainer.json is missing" in capsys.readouterr().err
