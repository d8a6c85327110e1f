"""`tabship inspect` on a version directory and on a lone .onnx file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import NAME, REPO, VERSION_A


def inspect(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tabship.cli.main", "inspect", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


def test_inspect_version_directory(version_a: Path) -> None:
    result = inspect(str(version_a), "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert (info["name"], info["version"]) == (NAME, VERSION_A)
    assert info["sha256"]["check"] == "ok"
    assert info["parity"]["status"] == "passed"
    assert info["threshold"]["value"] == 0.35
    assert info["metrics"]["roc_auc"] == 0.9
    month = next(i for i in info["inputs"] if i["name"] == "Month")
    assert month["kind"] == "categorical"
    assert "nov" in month["categories"]
    assert [o["name"] for o in info["outputs"]] == ["label", "probabilities", "decision"]
    assert info["onnx"]["opsets"] == {"": 21, "ai.onnx.ml": 3}
    assert info["onnx"]["external_data"] == []
    text = inspect(str(version_a))
    assert text.returncode == 0
    assert f"{NAME} {VERSION_A}" in text.stdout
    assert "[ok]" in text.stdout


def test_inspect_lone_onnx_and_tampered(version_a: Path, tmp_path: Path) -> None:
    lone = tmp_path / "lone.onnx"
    shutil.copyfile(version_a / "model.onnx", lone)
    info = json.loads(inspect(str(lone), "--json").stdout)
    assert info["manifest_source"] == "metadata_props"
    assert info["sha256"]["check"] == "unverified"
    assert info["parity"]["status"] == "pending"
    assert info["version"] == VERSION_A
    assert inspect(str(lone), "--sha256", "0" * 64).returncode == 1
    folder = tmp_path / "v"
    shutil.copytree(version_a, folder)
    data = bytearray((folder / "model.onnx").read_bytes())
    data[-3] ^= 1
    (folder / "model.onnx").write_bytes(bytes(data))
    tampered = inspect(str(folder))
    assert tampered.returncode == 1
    assert "MISMATCH" in tampered.stdout
    missing = inspect(str(tmp_path / "nothing.onnx"))
    assert missing.returncode == 1
    assert "no such file" in missing.stderr
