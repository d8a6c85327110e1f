"""Versions written before the packages moved under `tabship` pickled their classes as
`training.contract...`: they still re-gate and re-export, and the old names never leak."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import pytest

from tabship.training import evidence
from tabship.training.pickles import load_joblib

pytestmark = pytest.mark.slow


def _pre_move(path: Path) -> None:
    """Rewrite a joblib file as the old code wrote it: protocol 2 spells each class as text
    (`c<module>\\n<name>\\n`), so the pre-move module names can be put back byte for byte."""
    value = joblib.load(path)
    joblib.dump(value, path, protocol=2)
    data = path.read_bytes()
    old = data.replace(b"ctabship.training.", b"ctraining.").replace(
        b"ctabship.contract.", b"ccontract."
    )
    path.write_bytes(old)


def _isolated(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter with no checkout on sys.path (-I; cwd elsewhere), as in a wheel
    install: `training` there is no importable folder, only tabship.training is."""
    return subprocess.run(
        [sys.executable, "-I", *args], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )


LOAD = """
import sys
from tabship.training import evidence
from tabship.training.pickles import load_joblib
pipeline = load_joblib(sys.argv[1])
encoders = [type(step).__module__ for _, step, _ in pipeline.named_steps["contract"].transformers_]
assert "tabship.training.contract.categories" in encoders, encoders
assert not [m for m in sys.modules if m.split(".")[0] in ("training", "contract")], 2
print("loaded")
"""


def _old_layout(exported: Any, version: Path) -> None:
    """The version as tabship wrote it before evidence moved out and before the packages moved
    under tabship: reference.joblib (pre-move class names), reference_data.joblib,
    training.json and declaration.toml in the version folder, no evidence hashes."""
    found = evidence.read(exported.version_dir, None)
    shutil.copytree(exported.version_dir, version)
    manifest = json.loads((version / "manifest.json").read_text())
    manifest.pop("evidence")
    (version / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    joblib.dump(found.pipeline, version / "reference.joblib")
    joblib.dump(found.reference_data, version / "reference_data.joblib")
    for name in ("reference.joblib", "reference_data.joblib"):
        _pre_move(version / name)
    (version / "training.json").write_text(json.dumps(found.record))
    shutil.copyfile(found.declaration, version / "declaration.toml")


def test_a_pre_move_version_regates_and_reexports(exported: Any, tmp_path: Path) -> None:
    version = tmp_path / "old" / exported.name / exported.version_dir.name
    _old_layout(exported, version)
    reference = str(version / "reference.joblib")
    assert b"ctraining.contract." in (version / "reference.joblib").read_bytes()

    plain = _isolated(tmp_path, "-c", "import joblib, sys; joblib.load(sys.argv[1])", reference)
    assert "No module named 'training'" in plain.stderr  # what a plain load does with it
    loaded = _isolated(tmp_path, "-c", LOAD, reference)
    assert loaded.stdout.strip() == "loaded", loaded.stderr

    # unhashed pickles are refused unless the operator vouches for the folder
    refused = _isolated(tmp_path, "-m", "tabship.cli.main", "parity", str(version))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "--trust-legacy-evidence" in refused.stderr
    trusted = ("--trust-legacy-evidence",)
    regated = _isolated(tmp_path, "-m", "tabship.cli.main", "parity", str(version), *trusted)
    assert regated.returncode == 0, regated.stdout + regated.stderr
    assert "old layout" in regated.stderr
    again = tmp_path / "again"
    exported_again = _isolated(
        tmp_path,
        *("-m", "tabship.cli.main", "export", str(version), "--registry", str(again), *trusted),
    )
    assert exported_again.returncode == 0, exported_again.stdout + exported_again.stderr
    (new_version,) = again.rglob("model.onnx")
    assert not list(new_version.parent.glob("*.joblib"))  # the re-export moves evidence out


def test_a_missing_module_that_is_not_tabship_is_not_retried(tmp_path: Path) -> None:
    path = tmp_path / "foreign.joblib"
    joblib.dump(Path("x"), path, protocol=2)
    path.write_bytes(path.read_bytes().replace(b"cpathlib\n", b"cnot_a_module\n"))
    with pytest.raises(ModuleNotFoundError, match="not_a_module"):
        load_joblib(path)
