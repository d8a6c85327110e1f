"""The Node, Java and Go consumers run `tabship vectors` files: they pass on the vectors of a
gated binary and a multiclass version (bit-equal to Python's float32 outputs, refusing exactly
the refused rows with the same codes), and fail on any changed expectation or a tampered model.

Nothing is skipped: without `scripts/node_install.sh`, `scripts/java_install.sh` or
`scripts/go_install.sh` having run, these tests fail and say what to run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tabship.parity_tests.gate import gate_version
from tabship.parity_tests.vectors import write_vectors
from tabship.training import evidence

REPO = Path(__file__).resolve().parents[1]
GENERATED = 120
CONSUMERS: dict[str, tuple[list[str], Path, str]] = {
    "node": (
        ["node", "clients/node/bin/vectors.js"],
        REPO / "clients/node/node_modules",
        "scripts/node_install.sh",
    ),
    "java": (
        ["java", "-jar", "clients/java/target/tabship-client.jar", "vectors"],
        REPO / "clients/java/target/tabship-client.jar",
        "scripts/java_install.sh",
    ),
    "go": (
        ["clients/go/bin/tabship-go", "vectors"],
        REPO / "clients/go/bin/tabship-go",
        "scripts/go_install.sh",
    ),
}


def _consumer(name: str) -> list[str]:
    command, built, script = CONSUMERS[name]
    assert built.exists(), f"the {name} consumer is not built: run {script}"
    return command


def _run(name: str, vectors: Path, model: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TABSHIP_ONNXRUNTIME_LIB": str(REPO / "clients/go/lib/libonnxruntime.so.1"),
    }
    return subprocess.run(
        [*_consumer(name), str(vectors), str(model), "--json", *flags],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )


@pytest.fixture(scope="module")
def binary(exported: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("gated") / "version"
    shutil.copytree(exported.version_dir, folder)
    root = evidence.root_for_version(exported.version_dir)  # the copy's evidence stays put
    # records parity "passed": consumers require it
    gate_version(folder, generated=GENERATED, evidence_root=root)
    vectors = folder.parent / "binary.jsonl"
    write_vectors(folder, vectors, generated=GENERATED, evidence_root=root)
    return vectors, folder


@pytest.fixture(scope="module")
def multiclass(
    penguins_version: Any, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    vectors = tmp_path_factory.mktemp("penguins") / "penguins.jsonl"
    write_vectors(Path(penguins_version.version_dir), vectors, generated=GENERATED)
    return vectors, Path(penguins_version.version_dir)


def _edit(source: Path, target: Path, change: Callable[[dict[str, Any]], bool]) -> Path:
    """Copies a vectors file, applying `change` to the first row line it accepts."""
    lines = source.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines[1:], start=1):
        entry = json.loads(line)
        if change(entry):
            lines[i] = json.dumps(entry)
            break
    else:
        raise AssertionError("no line to change")
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


@pytest.mark.parametrize("consumer", list(CONSUMERS))
@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_consumer_passes_the_vectors_bit_for_bit(
    consumer: str, kind: str, request: pytest.FixtureRequest
) -> None:
    vectors, model = request.getfixturevalue(kind)
    result = _run(consumer, vectors, model, "--require-bit-equal")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["passed"]
    assert summary["consumer"] == consumer
    sets = {s["name"]: s for s in summary["sets"]}
    assert set(sets) == {"test", "boundary", "hostile", "generated"}
    assert all(s["bit_equal"] == s["scored"] > 0 for s in sets.values())
    assert all(s["refused_matched"] == s["refused"] for s in sets.values())
    assert sets["hostile"]["refused"] > 0


def _flip_bit(entry: dict[str, Any]) -> bool:
    if "expected" not in entry:
        return False
    bits = entry["expected"]["bits"]
    bits[-1] = f"{int(bits[-1], 16) ^ 1:08x}"
    return True


def _move_reference(entry: dict[str, Any]) -> bool:
    if "expected" not in entry:
        return False
    reference = entry["expected"]["reference"]
    if isinstance(reference, list):
        reference[0] += 1e-5
    else:
        entry["expected"]["reference"] = reference + 1e-5
    return True


def _change_code(entry: dict[str, Any]) -> bool:
    if "refused" not in entry:
        return False
    entry["refused"][0]["code"] = (
        "not_finite" if entry["refused"][0]["code"] != "not_finite" else "too_long"
    )
    return True


def _refuse_a_good_row(entry: dict[str, Any]) -> bool:
    if "expected" not in entry:
        return False
    del entry["expected"]
    entry["refused"] = [{"column": next(iter(entry["row"])), "code": "not_a_number"}]
    return True


def _flip_label(entry: dict[str, Any]) -> bool:
    if "expected" not in entry:
        return False
    entry["expected"]["label"] = 1 - entry["expected"]["label"]
    return True


@pytest.mark.parametrize("consumer", list(CONSUMERS))
@pytest.mark.parametrize(
    ("change", "flags"),
    [
        (_flip_bit, ("--require-bit-equal",)),
        (_move_reference, ()),
        (_change_code, ()),
        (_refuse_a_good_row, ()),
        (_flip_label, ()),
    ],
)
def test_consumer_fails_on_a_changed_expectation(
    consumer: str,
    change: Callable[[dict[str, Any]], bool],
    flags: tuple[str, ...],
    binary: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    vectors, model = binary
    changed = _edit(vectors, tmp_path / "changed.jsonl", change)
    result = _run(consumer, changed, model, *flags)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "vectors FAILED" in result.stderr


@pytest.mark.parametrize("consumer", list(CONSUMERS))
def test_consumer_refuses_a_tampered_model(
    consumer: str, binary: tuple[Path, Path], tmp_path: Path
) -> None:
    vectors, model = binary
    copy = tmp_path / "version"
    shutil.copytree(model, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["onnx"]["sha256"] = "0" * 64  # the file no longer matches its manifest
    (copy / "manifest.json").write_text(json.dumps(manifest))
    result = _run(consumer, vectors, copy)
    assert result.returncode == 2
    assert "SHA-256" in result.stderr


@pytest.mark.parametrize("consumer", list(CONSUMERS))
def test_consumer_fails_vectors_of_another_model(
    consumer: str, binary: tuple[Path, Path], multiclass: tuple[Path, Path]
) -> None:
    result = _run(consumer, multiclass[0], binary[1])
    assert result.returncode == 1
    assert "vectors are for" in result.stderr
