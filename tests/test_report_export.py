"""Export copies the training report into the version and records each file's SHA-256 and size
in the manifest (schema-valid), so a served version shows plots it could verify."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import jsonschema
import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from tabship.export.artifact import export_candidate
from tabship.export.manifest import SCHEMA_PATH
from tabship.export.registry import Registry
from tabship.runtime.page.plots import PLOTS, load_plots
from tabship.runtime.settings import Settings


def _report_dir(folder: Path) -> Path:
    folder.mkdir()
    for index, name in enumerate(PLOTS):
        figure, axes = plt.subplots(figsize=(3, 2))
        axes.plot([0, 1], [0, index])
        figure.savefig(folder / name)
        plt.close(figure)
    (folder / "metrics.json").write_text("{}\n")
    return folder


@pytest.fixture(scope="module")
def reported_version(exported, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    scratch = tmp_path_factory.mktemp("report-export")
    candidate = dataclasses.replace(exported.candidate, report_dir=_report_dir(scratch / "report"))
    return export_candidate(candidate, Registry(scratch / "registry"))


def test_export_records_the_report_files_it_copies(reported_version: Path) -> None:
    manifest = json.loads((reported_version / "manifest.json").read_text())
    jsonschema.validate(manifest, json.loads(SCHEMA_PATH.read_text()))
    files = manifest["report"]["files"]
    assert manifest["report"]["folder"] == "report"
    assert sorted(files) == sorted([*PLOTS, "metrics.json"])
    for name, entry in files.items():
        data = (reported_version / "report" / name).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def test_the_exported_plots_are_the_ones_the_page_shows(reported_version: Path) -> None:
    manifest = json.loads((reported_version / "manifest.json").read_text())
    plots = load_plots(manifest, str(reported_version / "model.onnx"), Settings())
    assert [p.file for p in plots] == list(PLOTS)
    assert all(p.data is not None and p.reason is None for p in plots), plots


def test_a_manifest_without_a_report_says_so(exported) -> None:  # type: ignore[no-untyped-def]
    manifest = json.loads((exported.version_dir / "manifest.json").read_text())
    assert "report" not in manifest  # exported without a report folder
    plots = load_plots(manifest, str(exported.version_dir / "model.onnx"), Settings())
    assert {p.reason for p in plots} == {"not recorded in this version's manifest"}
