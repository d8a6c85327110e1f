"""A 150-column table (100 numeric of mixed scales, 50 categorical incl. integer codes and a
500-level column) trains through `tabship train`, passes every set of the gate, and serves."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from wide_table import wide_table

from tabship.cli.main import main
from tabship.training import evidence

pytestmark = pytest.mark.slow

ROWS = 2000


@pytest.fixture(scope="module")
def wide_version(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wide")
    frame, toml = wide_table(ROWS)
    frame.to_parquet(folder / "wide.parquet")
    (folder / "wide.toml").write_text(toml)
    registry = folder / "registry"
    code = main(
        [
            "train",
            *("--data", str(folder / "wide.parquet")),
            *("--declaration", str(folder / "wide.toml")),
            *("--search-iterations", "1", "--registry", str(registry)),
        ]
    )
    assert code == 0  # the gate ran and passed: train exits non-zero otherwise
    (version,) = (registry / "wide-full").iterdir()
    return version


def test_every_gate_set_passes_on_150_columns(wide_version: Path) -> None:
    report = json.loads((wide_version / "parity_report.json").read_text())
    sets = {s["name"]: s for s in report["sets"]}
    assert set(sets) == {"test", "train", "boundary", "hostile", "generated"}
    assert all(s["passed"] and s["error"] is None for s in sets.values()), sets
    assert sets["generated"]["rows"] == 2000
    # The report says what each set cost (build, and build + compare), and each
    # contributions set its own total.
    timed = {k: v for k, v in report["seconds"].items() if not k.startswith("contributions:")}
    assert set(timed) == set(sets)
    assert all(0 <= t["build"] <= t["total"] for t in timed.values())
    explained = [s["name"] for s in report["contributions"]["sets"]]
    assert {f"contributions:{n}" for n in explained} == set(report["seconds"]) - set(timed)
    assert all(s["passed"] for s in report["contributions"]["sets"])
    manifest = json.loads((wide_version / "manifest.json").read_text())
    assert len(manifest["inputs"]) == 150
    many = next(i for i in manifest["inputs"] if i["name"] == "c00_many")
    train = evidence.read(wide_version).reference_data["train_frame"]
    assert many["categories"] == sorted(train["c00_many"].dropna().unique())
    assert len(many["categories"]) > 450
    # Every split threshold of the booster was probed, or the cap is stated in the report.
    thresholds = report["boundary_thresholds"]
    assert thresholds["total"] > 100
    capped = sets["boundary"]["note"]
    assert (thresholds["probed"] == thresholds["total"]) == (capped is None)


def _json_row(record: dict[str, Any]) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return value.item() if isinstance(value, np.generic) else value

    return {k: plain(v) for k, v in record.items()}


def test_wide_model_serves_what_the_pipeline_computes(wide_version: Path, start_app: Any) -> None:
    server = start_app(wide_version)
    test = evidence.read(wide_version).reference_data["test_frame"].head(64)
    expected = evidence.read(wide_version).pipeline.predict_proba(test)[:, 1]
    rows = [_json_row(r) for r in test.to_dict("records")]
    response = server.client.post("/v1/predict", json=rows)
    assert response.status_code == 200, response.text
    served = np.array([p["probability"] for p in response.json()["predictions"]])
    assert np.abs(served - expected).max() <= 1e-6
