"""The live evidence's training side: the manifest's drift reference (export) and the
declaration's `sensitive` columns, and the shared drift math (tabship/contract/drift.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from tabship.contract.drift import DriftReference, psi, reference_column
from tabship.contract.manifest import SCHEMA_PATH
from tabship.export.live_reference import mark_sensitive
from tabship.training.declaration import DeclarationError, load_declaration


def test_export_writes_a_drift_reference_per_input(exported: Any) -> None:
    manifest = json.loads((exported.version_dir / "manifest.json").read_text())
    jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text())).validate(manifest)
    section = manifest["drift"]
    assert section["rows"] == len(exported.train_frame)
    assert set(section["columns"]) == {i["name"] for i in manifest["inputs"]}
    reference = DriftReference.from_manifest(manifest)
    assert reference is not None
    assert len(reference.columns) == len(manifest["inputs"])
    for column in reference.columns:
        assert sum(column.expected) == pytest.approx(1.0, abs=1e-9)
    # the training rows themselves show no drift against their own reference
    from tabship.export.live_reference import raw_values

    values = {
        entry["name"]: raw_values(entry, exported.train_frame[entry["name"]])
        for entry in manifest["inputs"]
    }
    figures = reference.figures(reference.count(values))
    assert all(f["psi"] < 1e-6 for f in figures.values()), figures
    month = manifest["drift"]["columns"]["Month"]
    assert (
        len(month["expected"])
        == len(next(i for i in manifest["inputs"] if i["name"] == "Month")["categories"]) + 1
    )


def test_psi_of_a_shift() -> None:
    entry = {"name": "x", "kind": "numeric"}
    rng = np.random.default_rng(0)
    column = reference_column(entry, rng.normal(0, 1, 5000))
    reference = DriftReference([column], 5000)
    same = reference.figures(reference.count({"x": rng.normal(0, 1, 5000)}))["x"]
    moved = reference.figures(reference.count({"x": rng.normal(1, 1, 5000)}))["x"]
    assert same["psi"] is not None
    assert same["psi"] < 0.02
    assert moved["psi"] is not None
    assert moved["psi"] > 0.25
    assert psi([0.5, 0.5], np.array([0, 0])) is None


def test_sensitive_columns(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parent / "data" / "loans.toml").read_text()
    marked = text.replace('name = "income"', 'name = "income"\nsensitive = true', 1)
    assert marked != text
    path = tmp_path / "loans.toml"
    path.write_text(marked)
    declaration = load_declaration(path)
    assert [c.name for c in declaration.columns if c.sensitive] == ["income"]
    inputs = [{"name": c.name} for c in declaration.columns]
    mark_sensitive(inputs, declaration)
    assert [i for i in inputs if i.get("sensitive")] == [{"name": "income", "sensitive": True}]
    path.write_text(text.replace('name = "income"', 'name = "income"\nsensitive = "yes"', 1))
    with pytest.raises(DeclarationError, match="sensitive"):
        load_declaration(path)
