"""The release path: the gate runs on what this run holds in memory and the version is written
once, its manifest carrying the verdict (tabship/release/flow.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import tabship.parity_tests.gate as gate_module
import tabship.training.evidence as evidence_module
import tabship.training.pickles as pickles_module
from tabship.cli.main import main
from tabship.export.registry import Registry
from tabship.parity_tests.gate import REPORT_FILE, verdict
from tabship.release.flow import release_candidate

pytestmark = pytest.mark.parity


def _no_disk_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("the release path read back or rewrote a version file")

    monkeypatch.setattr(evidence_module, "read", refuse)
    monkeypatch.setattr(pickles_module.joblib, "load", refuse)
    monkeypatch.setattr(gate_module, "_write_atomically", refuse)


def test_the_gate_runs_in_memory_and_the_verdict_is_written_once(
    exported: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_disk_round_trip(monkeypatch)
    released = release_candidate(exported.candidate, Registry(tmp_path), generated=200)
    monkeypatch.undo()
    assert released.passed
    assert released.outcome is not None
    manifest = json.loads((released.folder / "manifest.json").read_text())
    assert manifest["parity"] == verdict(released.outcome)
    assert manifest["parity"]["status"] == "passed"
    assert json.loads((released.folder / REPORT_FILE).read_text()) == released.outcome
    assert released.outcome["onnx_sha256"] == manifest["onnx"]["sha256"]
    # nothing but the version itself in the model's folder: no staging left behind
    assert [p.name for p in released.folder.parent.iterdir()] == [released.folder.name]
    # `tabship parity DIR` on the written version agrees with the verdict it carries
    assert main(["parity", str(released.folder), "--generated-rows", "200"]) == 0


def test_a_version_that_fails_the_gate_is_written_with_its_failed_verdict(
    exported: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> pd.DataFrame:
        raise RuntimeError("no rows for you")

    monkeypatch.setattr(gate_module, "hostile_rows", broken)
    released = release_candidate(exported.candidate, Registry(tmp_path), generated=200)
    assert not released.passed
    manifest = json.loads((released.folder / "manifest.json").read_text())
    assert manifest["parity"]["status"] == "failed"
    sets = {s["name"]: s for s in manifest["parity"]["sets"]}
    assert sets["hostile"]["error"] == "RuntimeError: no rows for you"
    assert sets["test"]["passed"]


def test_an_ungated_release_stays_pending(exported: Any, tmp_path: Path) -> None:
    released = release_candidate(exported.candidate, Registry(tmp_path), gate=False)
    assert released.gate is None
    assert not released.passed
    manifest = json.loads((released.folder / "manifest.json").read_text())
    assert manifest["parity"] == {"status": "pending"}
    assert not (released.folder / REPORT_FILE).exists()
