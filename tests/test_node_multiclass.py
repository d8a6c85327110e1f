"""The Node consumer on multiclass models (penguins, three classes; the generated six-class
table): the cross-language parity check passes on the gate's consumer fixture (test, boundary,
hostile rows; max |dP| over every class column <= 1e-6, no label or class-name flips), fails
when an expected value is moved, and bin/score.js answers what onnxruntime in Python answers.
Needs Node.js and `bash scripts/node_install.sh` (as tests/test_node_consumer.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from tabship.parity_tests.compare import feeds_for
from tabship.parity_tests.gate import consumer_fixture
from tabship.runtime.model.session import session_options

NODE_DIR = Path(__file__).resolve().parents[1] / "clients" / "node"


@pytest.fixture(scope="module")
def node() -> str:
    exe = shutil.which("node")
    if exe is None or not (NODE_DIR / "node_modules" / "onnxruntime-node").is_dir():
        pytest.fail("the Node consumer is not installed: run `bash scripts/node_install.sh`")
    return exe


def _run(node: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [node, *args], cwd=NODE_DIR, capture_output=True, text=True, timeout=180, check=False
    )


def _fixture(version: Any, folder: Path) -> tuple[Path, dict[str, Any]]:
    manifest = json.loads((version.version_dir / "manifest.json").read_text())
    data = consumer_fixture(version.gate, manifest)
    path = folder / "fixture.json"
    path.write_text(json.dumps(data, allow_nan=False))
    return path, data


@pytest.mark.parametrize("fixture", ["penguins_version", "failures_version"])
def test_node_parity_passes_on_every_class(
    node: str, fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    version = request.getfixturevalue(fixture)
    path, data = _fixture(version, tmp_path)
    assert data["classes"] == list(version.declaration.classes)
    done = _run(node, "bin/parity.js", str(path), str(version.version_dir), "--json")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["passed"] is True
    assert [s["name"] for s in summary["sets"]] == ["test", "boundary", "hostile"]
    assert summary["rows"] == sum(len(s["rows"]) for s in data["sets"]) > 100
    assert summary["max_abs_dp"] <= 1e-6
    assert summary["flips"] == 0
    table = _run(node, "bin/parity.js", str(path), str(version.version_dir))
    assert "PASSED" in table.stdout


@pytest.mark.parametrize(
    ("change", "expect"),
    [("probabilities", "max |dP|"), ("label", "1 label flips"), ("decision", "1 decision flips")],
)
def test_node_parity_fails_when_an_expected_value_moves(
    node: str, penguins_version: Any, tmp_path: Path, change: str, expect: str
) -> None:
    path, data = _fixture(penguins_version, tmp_path)
    expected = data["sets"][0]["expected"]
    if change == "probabilities":
        expected["probabilities"][3][2] += 1e-5  # the last class only
    elif change == "label":
        expected["label"][3] = (expected["label"][3] + 1) % 3
    else:
        classes = data["classes"]
        expected["decision"][3] = classes[(classes.index(expected["decision"][3]) + 1) % 3]
    path.write_text(json.dumps(data))
    done = _run(node, "bin/parity.js", str(path), str(penguins_version.version_dir))
    assert done.returncode == 1, done.stdout + done.stderr
    assert expect in done.stderr


def test_node_parity_refuses_a_fixture_of_another_target(
    node: str, penguins_version: Any, tmp_path: Path
) -> None:
    path, data = _fixture(penguins_version, tmp_path)
    data["classes"] = ["Gentoo", "Adelie", "Chinstrap"]  # another column order
    path.write_text(json.dumps(data))
    done = _run(node, "bin/parity.js", str(path), str(penguins_version.version_dir))
    assert done.returncode == 1
    assert "fixture classes" in done.stderr


def test_node_score_answers_class_names(node: str, failures_version: Any, tmp_path: Path) -> None:
    _, data = _fixture(failures_version, tmp_path)
    rows = data["sets"][0]["rows"][:40]
    rows_file = tmp_path / "rows.json"
    rows_file.write_text(json.dumps(rows))
    done = _run(node, "bin/score.js", str(failures_version.version_dir), str(rows_file))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    classes = list(failures_version.declaration.classes)
    assert out["classes"] == classes
    assert "threshold" not in out
    import pandas as pd

    session = ort.InferenceSession(
        str(failures_version.version_dir / "model.onnx"), sess_options=session_options(1)
    )
    frame = pd.DataFrame(rows, columns=[c.name for c in failures_version.declaration.columns])
    label, probabilities, decision = session.run(None, feeds_for(session, frame))
    got = np.array([[r["probabilities"][c] for c in classes] for r in out["results"]])
    assert np.array_equal(got.astype(np.float32), probabilities)  # the same float32, exactly
    assert [r["label"] for r in out["results"]] == label.tolist()
    assert [r["decision"] for r in out["results"]] == decision.tolist()


_NODE_CHECK = """
import { checkManifest } from './src/tabship.js';
let text = '';
process.stdin.on('data', (chunk) => { text += chunk; });
process.stdin.on('end', () => {
  const answers = JSON.parse(text).map((m) => {
    try { checkManifest(m, 'here'); return null; } catch (error) { return error.message; }
  });
  process.stdout.write(JSON.stringify(answers));
});
"""


def test_node_and_python_checks_agree_on_version_two_manifests(
    node: str, penguins_version: Any
) -> None:
    from tabship.contract.errors import ModelRefused
    from tabship.contract.manifest import check_manifest

    good = json.loads((penguins_version.version_dir / "manifest.json").read_text())
    edits: dict[str, Any] = {
        "good": lambda m: None,
        "no target": lambda m: m.pop("target"),
        "one class": lambda m: m["target"].update(classes=["Adelie"]),
        "twice": lambda m: m["target"].update(classes=["Adelie", "Adelie"]),
        "empty name": lambda m: m["target"].update(classes=["Adelie", ""]),
        "kind": lambda m: m["target"].update(kind="binary"),
        "version 3": lambda m: m.update(manifest_version=3),
        "version 1 without threshold": lambda m: m.update(manifest_version=1),
    }
    cases = {}
    for name, edit in edits.items():
        cases[name] = json.loads(json.dumps(good))
        edit(cases[name])
    done = subprocess.run(
        [node, "--input-type=module", "-e", _NODE_CHECK],
        cwd=NODE_DIR,
        input=json.dumps(list(cases.values())),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answers = dict(zip(cases, json.loads(done.stdout), strict=True))
    for name, manifest in cases.items():
        try:
            check_manifest(manifest, "here")
            python = None
        except ModelRefused as error:
            python = str(error).split(": not a tabship manifest: ")[1]
        if name == "good":
            assert python is None
            assert answers[name] is None
            continue
        assert python is not None, f"python accepts: {name}"
        assert answers[name] is not None, f"node accepts: {name}"
        assert answers[name].split("is not a tabship manifest: ")[1] == python, name
