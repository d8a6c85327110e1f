"""`tabship score --explain`: contribution_<column> columns (and the bias) for every scored row,
equal to xgboost's pred_contribs of the version's reference pipeline summed per column."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import xgboost as xgb
from conftest import Inputs  # tests/batch/conftest.py

from tabship.cli.main import main
from tabship.training import evidence

FLOAT32_NOISE = 1e-5


def test_explain_adds_contribution_columns(
    gated_model: Path, inputs: Inputs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "scored.parquet"
    code = main(
        [
            "score",
            "--model",
            str(gated_model),
            str(inputs.parquet),
            str(out),
            "--keys",
            "session_id",
            "--explain",
            "--chunk-rows",
            "700",
            "--quiet",
        ]
    )
    assert code == 0, capsys.readouterr().err
    scored = pq.read_table(out).to_pandas()
    manifest = json.loads((gated_model / "manifest.json").read_text())
    groups = manifest["explanations"]["groups"]
    columns = list(dict.fromkeys(groups))
    names = [f"contribution_{c}" for c in columns]
    assert list(scored.columns[-len(names) - 1 :]) == [*names, "contribution_bias"]
    assert 0 < len(scored) < inputs.n_rows  # dirty rows went to no output, as without --explain

    # the reference: pred_contribs on the same raw rows, summed per column
    pipeline = evidence.read(gated_model, None).pipeline
    raw = inputs.table.to_pandas().set_index("session_id").loc[scored["session_id"]]
    x = pipeline[:-1].transform(raw.reset_index(drop=True)).astype(np.float32)
    contribs = pipeline[-1].get_booster().predict(xgb.DMatrix(x), pred_contribs=True)
    fold = np.zeros((len(groups), len(columns)))
    fold[np.arange(len(groups)), [columns.index(g) for g in groups]] = 1.0
    reference = contribs[:, :-1].astype(np.float64) @ fold
    served = scored[names].to_numpy()
    assert np.abs(served - reference).max() <= FLOAT32_NOISE
    assert np.abs(scored["contribution_bias"].to_numpy() - contribs[:, -1]).max() <= FLOAT32_NOISE
    # bias + contributions = the margin of the probability in the same row
    margin = served.sum(axis=1) + scored["contribution_bias"].to_numpy()
    np.testing.assert_allclose(1 / (1 + np.exp(-margin)), scored["probability"], atol=1e-6)

    plain = tmp_path / "plain.parquet"
    assert (
        main(["score", "--model", str(gated_model), str(inputs.parquet), str(plain), "--quiet"])
        == 0
    )
    assert not any(c.startswith("contribution_") for c in pq.read_table(plain).column_names)


def test_explain_refusals(
    gated_model: Path, inputs: Inputs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "scored.parquet"
    args = ["score", "--model", str(gated_model), str(inputs.parquet), str(out), "--explain"]
    assert main([*args, "--engine", "dask"]) == 2
    assert "--explain runs on the local engine only" in capsys.readouterr().err
    # a version exported before explanations (no explainer.json, no section)
    old = tmp_path / "old"
    old.mkdir()
    for name in ("model.onnx", "manifest.json"):
        (old / name).write_bytes((gated_model / name).read_bytes())
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["explanations"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    assert main(["score", "--model", str(old), str(inputs.parquet), str(out), "--explain"]) == 2
    err = capsys.readouterr().err
    assert "carries no explainer" in err
    assert "re-export" in err
    assert not out.exists()


def test_multiclass_one_set_per_class(penguins_version: Any, tmp_path: Path) -> None:
    frame = penguins_version.trained.test_frame.reset_index(drop=True)
    source = tmp_path / "penguins.csv"
    frame.assign(row_id=np.arange(len(frame))).to_csv(source, index=False)
    out = tmp_path / "scored.csv"
    folder = penguins_version.version_dir
    assert (
        main(
            [
                "score",
                "--model",
                str(folder),
                str(source),
                str(out),
                "--keys",
                "row_id",
                "--explain",
                "--quiet",
            ]
        )
        == 0
    )
    import pandas as pd

    scored = pd.read_csv(out)
    manifest = json.loads((folder / "manifest.json").read_text())
    classes = manifest["target"]["classes"]
    columns = [*dict.fromkeys(manifest["explanations"]["groups"]), "bias"]
    for c in classes:
        names = [f"contribution_{c}_{column}" for column in columns]
        assert set(names) <= set(scored.columns)
    pipeline = penguins_version.trained.pipeline
    x = pipeline[:-1].transform(frame.loc[scored["row_id"]].reset_index(drop=True))
    contribs = (
        pipeline[-1].get_booster().predict(xgb.DMatrix(x.astype(np.float32)), pred_contribs=True)
    )
    for k, c in enumerate(classes):
        bias = scored[f"contribution_{c}_bias"].to_numpy()
        assert np.abs(bias - contribs[:, k, -1]).max() <= FLOAT32_NOISE
        total = scored[[f"contribution_{c}_{column}" for column in columns]].to_numpy().sum(axis=1)
        assert np.abs(total - contribs[:, k, :].sum(axis=1)).max() <= FLOAT32_NOISE
