"""A user's own pipeline released (tabship.release and `tabship export --pipeline`): gated,
written once, served and batch-scored equal to its predict_proba; refused steps exit 2 with
nothing written; the gate fails the float32 recipe of the same pipeline and names the column."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from conftest import AppServer
from onnx import helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import PolynomialFeatures
from xgboost import XGBClassifier

import tabship
from tabship.export.convert import OPSETS, _add_multiclass_decision
from tabship.export.converters import register_all
from tabship.training import evidence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from own_pipelines import (
    GENERATED_STEPS,
    PENGUIN_STEPS,
    SPECIES,
    fit,
    generated_table,
    penguins,
    species_codes,
)

from tabship.parity_tests.gate import check_parity

REPO = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-6


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    def plain(v: Any) -> Any:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        return v.item() if isinstance(v, np.generic) else v

    return [{k: plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


@pytest.fixture(scope="module")
def penguin_release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, pd.DataFrame]:
    X, species = penguins()
    train, test = X.iloc[::2], X.iloc[1::2]
    pipeline = fit(PENGUIN_STEPS["impute_scale_onehot"](), train, species_codes(species.iloc[::2]))
    registry = tmp_path_factory.mktemp("registry")
    done = tabship.release(  # type: ignore[operator]
        pipeline,
        train=(train, species.iloc[::2]),
        test=(test, species.iloc[1::2]),
        name="penguins-own",
        registry=str(registry),
        classes=SPECIES,
        generated=400,
    )
    return done, pipeline, test


def test_release_from_python_passes_the_gate_and_serves_predict_proba(
    penguin_release: tuple[Any, Any, pd.DataFrame],
) -> None:
    done, pipeline, test = penguin_release
    assert done.passed, done
    assert {s["name"] for s in done.outcome["sets"]} == {
        "test",
        "train",
        "boundary",
        "hostile",
        "generated",
    }
    assert all(s["tree_input_cells"] == 0 for s in done.outcome["sets"])
    manifest = json.loads((done.folder / "manifest.json").read_text())
    assert manifest["parity"]["status"] == "passed"
    assert [i["name"] for i in manifest["inputs"]] == list(test.columns)
    assert {i["name"]: i["kind"] for i in manifest["inputs"]}["island"] == "categorical"
    assert manifest["target"]["classes"] == SPECIES
    assert "parity passed" in done._repr_html_()
    assert "penguins-own" in repr(done)
    server = AppServer(done.folder)
    try:
        body = server.client.post("/v1/predict", json=_rows(test)).json()
    finally:
        server.stop()
    got = np.array([[p["probabilities"][c] for c in SPECIES] for p in body["predictions"]])
    assert np.abs(got - pipeline.predict_proba(test)).max() <= TOLERANCE


def test_batch_scoring_equals_predict_proba(
    penguin_release: tuple[Any, Any, pd.DataFrame], tmp_path: Path
) -> None:
    done, pipeline, test = penguin_release
    test.to_csv(tmp_path / "in.csv", index=False)
    scored = subprocess.run(
        [
            sys.executable,
            "-m",
            "tabship.cli.main",
            "score",
            "--model",
            str(done.folder),
            str(tmp_path / "in.csv"),
            str(tmp_path / "out.csv"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert scored.returncode == 0, scored.stderr
    out = pd.read_csv(tmp_path / "out.csv")
    columns = [c for c in out.columns if c.startswith("probability")]
    assert len(columns) == 3
    assert np.abs(out[columns].to_numpy() - pipeline.predict_proba(test)).max() <= TOLERANCE


def _export(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tabship.cli.main", "export", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )


def test_cli_releases_a_saved_pipeline_and_refuses_unknown_steps(tmp_path: Path) -> None:
    X, y = generated_table()
    pipeline = fit(GENERATED_STEPS["generated_mixed"](), X, y.to_numpy())
    joblib.dump(pipeline, tmp_path / "churn.joblib")
    X.assign(churned=y).to_parquet(tmp_path / "table.parquet")
    registry = tmp_path / "registry"
    done = _export(
        "--pipeline",
        str(tmp_path / "churn.joblib"),
        "--data",
        str(tmp_path / "table.parquet"),
        "--target",
        "churned",
        "--registry",
        str(registry),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "parity PASSED" in done.stdout
    assert "held-out 20%" in done.stdout
    (version,) = (registry / "churn").iterdir()
    manifest = json.loads((version / "manifest.json").read_text())
    assert "visit count.total" in [i["name"] for i in manifest["inputs"]]
    server = AppServer(version)
    try:
        body = server.client.post("/v1/predict", json=_rows(X.head(200))).json()
    finally:
        server.stop()
    got = np.array([p["probability"] for p in body["predictions"]])
    assert np.abs(got - pipeline.predict_proba(X.head(200))[:, 1]).max() <= TOLERANCE

    lam = ColumnTransformer(
        [("num", "passthrough", ["spend"]), ("odd", PolynomialFeatures(), ["tenure"])]
    )
    joblib.dump(fit(lam, X, y.to_numpy()), tmp_path / "odd.joblib")
    refused = _export(
        "--pipeline",
        str(tmp_path / "odd.joblib"),
        "--data",
        str(tmp_path / "table.parquet"),
        "--target",
        "churned",
        "--registry",
        str(tmp_path / "other"),
    )
    assert refused.returncode == 2
    assert "prep/odd: PolynomialFeatures: no exact converter" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "other" / "odd").exists()


def test_gate_fails_the_float32_recipe_and_names_the_column(
    penguin_release: tuple[Any, Any, pd.DataFrame],
) -> None:
    """The documented recipe: numeric inputs as float32, skl2onnx's stock converters."""
    done, _, _ = penguin_release
    found = evidence.read(done.folder, None)  # the release's evidence, hash-checked
    reference, data = found.pipeline, found.reference_data
    manifest = json.loads((done.folder / "manifest.json").read_text())
    user = reference.named_steps["contract"].named_steps["steps"]
    pipeline = type(user)([*user.steps, ("model", reference.named_steps["model"])])
    register_all()
    types = [
        (
            i["name"],
            FloatTensorType([None, 1]) if i["kind"] == "numeric" else StringTensorType([None, 1]),
        )
        for i in manifest["inputs"]
    ]
    model = convert_sklearn(
        pipeline,
        initial_types=types,
        target_opset=dict(OPSETS),
        options={XGBClassifier: {"zipmap": False}},
    )
    _add_multiclass_decision(model, SPECIES)
    del model.opset_import[:]
    model.opset_import.extend(helper.make_opsetid(d, v) for d, v in sorted(OPSETS.items()))
    run = check_parity(reference, model.SerializeToString(), manifest, data, generated=200)
    assert not run.passed
    train = next(r for r in run.results if r.name == "train")
    assert train.tree_input_cells > 0
    assert train.tree_input_column is not None
    assert train.tree_input_column.startswith("num__")
