"""The gate's sets on their own: generated rows are deterministic and varied, the boundary cap is
reported, and a set that cannot be built is FAILED with its reason instead of a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import tabship.parity_tests.gate as gate_module
from tabship.cli.main import main
from tabship.parity_tests.generated import generated_rows
from tabship.parity_tests.rows import boundary_rows
from tabship.training import evidence

pytestmark = pytest.mark.parity


def _inputs(version_dir: Path) -> list[dict[str, Any]]:
    return json.loads((version_dir / "manifest.json").read_text())["inputs"]


def test_generated_rows_are_the_same_on_every_run_and_cover_every_kind(version_dir: Path) -> None:
    inputs = _inputs(version_dir)
    train = evidence.read(version_dir).reference_data["train_frame"]
    first = generated_rows(inputs, train, rows=600)
    again = generated_rows(inputs, train, rows=600)
    assert list(first.columns) == [spec["name"] for spec in inputs]
    assert len(first) == 600
    pd.testing.assert_frame_equal(first, again)
    cells = first.to_numpy(dtype=object).ravel()
    assert any(cell is None for cell in cells)
    assert any(isinstance(cell, str) for cell in cells)
    numeric = [spec["name"] for spec in inputs if spec["kind"] == "numeric"]
    numbers = [v for v in first[numeric].to_numpy(dtype=object).ravel() if isinstance(v, float)]
    assert any(np.isinf(v) for v in numbers)  # beyond any range
    categorical = next(spec for spec in inputs if spec["kind"] == "categorical")
    seen = set(first[categorical["name"]].dropna())
    assert set(categorical["categories"]) <= seen  # every known label in 600 rows


def test_a_column_added_leaves_the_other_columns_cells_unchanged(version_dir: Path) -> None:
    inputs = _inputs(version_dir)
    extra = {"name": "zz_extra", "kind": "numeric", "range": {"min": 0.0, "max": 9.0}}
    narrow = generated_rows(inputs, rows=300)
    wide = generated_rows([*inputs, extra], rows=300)
    pd.testing.assert_frame_equal(narrow, wide[narrow.columns])


def test_generated_rows_stay_linear_in_columns() -> None:
    """500 columns x 2,000 rows is built without per-example search (no hypothesis)."""
    inputs = [
        {"name": f"n{i}", "kind": "numeric", "range": {"min": 0.0, "max": float(i + 1)}}
        for i in range(400)
    ] + [
        {"name": f"c{i}", "kind": "categorical", "categories": [f"l{j}" for j in range(i + 2)]}
        for i in range(100)
    ]
    frame = generated_rows(inputs, rows=2000)
    assert frame.shape == (2000, 500)


def test_a_boundary_set_over_the_cap_is_thinned_evenly_and_says_so(version_dir: Path) -> None:
    pipeline = evidence.read(version_dir).pipeline
    base = evidence.read(version_dir).reference_data["test_frame"].head(2)
    full = boundary_rows(pipeline, base)
    assert full.note is None
    assert full.probed == full.thresholds
    capped = boundary_rows(pipeline, base, max_rows=len(full.rows) // 4)
    assert capped.probed < capped.thresholds == full.thresholds
    assert f"probed {capped.probed} of {capped.thresholds}" in (capped.note or "")
    # every feature keeps at least one probe, and the set shrinks towards the cap
    assert set(capped.per_feature) == set(full.per_feature)
    assert len(capped.rows) < len(full.rows) / 2


def test_a_set_that_cannot_be_built_is_failed_with_its_reason(
    version_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    copy = tmp_path / "version"
    shutil.copytree(version_dir, copy)

    def broken(*_: Any, **__: Any) -> pd.DataFrame:
        raise RuntimeError("no rows for you")

    monkeypatch.setattr(gate_module, "hostile_rows", broken)
    assert (
        main(
            [
                "parity",
                str(copy),
                "--generated-rows",
                "200",
                "--evidence",
                evidence.root_for_version(version_dir),
            ]
        )
        == 1
    )
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert "hostile" in captured.out
    assert "FAIL: RuntimeError: no rows for you" in captured.out
    sets = {
        s["name"]: s for s in json.loads((copy / "manifest.json").read_text())["parity"]["sets"]
    }
    assert sets["hostile"]["passed"] is False
    assert sets["hostile"]["error"] == "RuntimeError: no rows for you"
    assert sets["test"]["passed"]
    assert sets["generated"]["passed"]
