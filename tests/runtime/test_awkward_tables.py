"""Tables as real exports write them train, pass the gate and serve under the user's own names:
a ';' CSV with a BOM and decimal commas; `tabship train --data X --target COL` with no
declaration; boolean columns and 0/1 or True/False targets; a column with no values, dropped
or kept as the declaration says."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from awkward_table import USER_COLUMNS, awkward_frame, write_awkward_csv

from tabship.cli.main import main
from tabship.training import evidence

pytestmark = pytest.mark.slow
CSV_OPTIONS = ("--csv-delimiter", ";", "--decimal", ",")


def _train(registry: Path, *args: str) -> int:
    return main(["train", *args, "--search-iterations", "1", "--registry", str(registry)])


def _only_version(registry: Path, model: str) -> Path:
    (version,) = (registry / model).iterdir()
    return version


def _json_row(record: dict[str, Any]) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return value.item() if isinstance(value, np.generic) else value

    return {k: plain(v) for k, v in record.items()}


def _served_equals_pipeline(version: Path, start_app: Any) -> list[str]:
    server = start_app(version)
    test = evidence.read(version).reference_data["test_frame"].head(50)
    expected = evidence.read(version).pipeline.predict_proba(test)[:, 1]
    rows = [_json_row(r) for r in test.to_dict("records")]
    response = server.client.post("/v1/predict", json=rows)
    assert response.status_code == 200, response.text
    served = np.array([p["probability"] for p in response.json()["predictions"]])
    assert np.abs(served - expected).max() <= 1e-6
    return list(rows[0])


@pytest.fixture(scope="module")
def awkward_version(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("awkward")
    csv = folder / "shop.csv"
    write_awkward_csv(csv, awkward_frame())
    toml = folder / "shop.toml"
    assert main(["declare", str(csv), *CSV_OPTIONS, "-o", str(toml)]) == 0
    assert (
        _train(folder / "registry", "--data", str(csv), "--declaration", str(toml), *CSV_OPTIONS)
        == 0
    )
    return _only_version(folder / "registry", "shop-full")


def test_awkward_csv_keeps_the_users_names(awkward_version: Path, start_app: Any) -> None:
    manifest = json.loads((awkward_version / "manifest.json").read_text())
    assert [i["name"] for i in manifest["inputs"]] == [*USER_COLUMNS, "single"]
    assert manifest["parity"]["status"] == "passed"
    by_name = {i["name"]: i for i in manifest["inputs"]}
    assert by_name["single"]["categories"] == ["x"]
    # decimal commas were read as numbers ("2,002" -> 2.002), not as unparsable text
    train = evidence.read(awkward_version).reference_data["train_frame"]
    values = train["page.value"].dropna()
    parsed = pd.to_numeric(values, errors="coerce")
    assert parsed.notna().all()
    assert (parsed % 1 != 0).mean() > 0.9
    served_keys = _served_equals_pipeline(awkward_version, start_app)
    assert served_keys == [*USER_COLUMNS, "single"]


def test_onnx_inputs_carry_the_users_names(awkward_version: Path) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(str(awkward_version / "model.onnx"))
    assert [i.name for i in session.get_inputs()] == [*USER_COLUMNS, "single"]


@pytest.mark.parametrize(
    ("target", "values", "positive"),
    [
        ("bought", lambda y: y.astype(np.int64), ["1"]),  # 0/1 numbers
        ("bought", lambda y: y.astype(bool), ["true"]),  # True/False booleans
    ],
)
def test_train_with_only_a_target_infers_and_saves_the_declaration(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    start_app: Any,
    target: str,
    values: Any,
    positive: list[str],
) -> None:
    frame = awkward_frame(rows=500, seed=5).drop(columns=["Bought?", "id", "signup date"])
    frame[target] = values(np.arange(500) % 3 == 0)
    frame["is_mobile"] = frame["is_mobile"].astype(bool)  # a real boolean column
    data = tmp_path / "sessions.parquet"
    frame.to_parquet(data)
    assert _train(tmp_path / "registry", "--data", str(data), "--target", target) == 0
    out = capsys.readouterr().out
    assert "declaration: inferred from parquet:" in out
    version = _only_version(tmp_path / "registry", "sessions-full")
    saved = evidence.read(version).declaration.read_text()  # kept with the evidence
    assert main(["declare", str(data), "--target", target]) == 0
    assert capsys.readouterr().out == saved  # exactly what `tabship declare` prints
    dataset = tomllib.loads(saved)["dataset"]
    assert dataset["positive_values"] == positive
    manifest = json.loads((version / "manifest.json").read_text())
    assert "always empty" not in [i["name"] for i in manifest["inputs"]]
    _served_equals_pipeline(version, start_app)


def _declaration_with_empty_column(policy: str | None) -> str:
    setting = "" if policy is None else f'empty_columns = "{policy}"\n'
    return (
        '[dataset]\nname = "empty"\ntarget = "Bought?"\n'
        'positive_values = ["yes"]\nnegative_values = ["no"]\n'
        f"{setting}"
        '[[columns]]\nname = "visit count"\nkind = "numeric"\n'
        '[[columns]]\nname = "Visitor Type"\nkind = "categorical"\n'
        '[[columns]]\nname = "always empty"\nkind = "numeric"\n'
        '[[columns]]\nname = "single"\nkind = "categorical"\n'
    )


@pytest.mark.parametrize("policy", [None, "keep"])
def test_a_column_without_values_is_dropped_or_kept_as_declared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], start_app: Any, policy: str | None
) -> None:
    csv = tmp_path / "shop.csv"
    write_awkward_csv(csv, awkward_frame(rows=400))
    toml = tmp_path / "empty.toml"
    toml.write_text(_declaration_with_empty_column(policy))
    registry = tmp_path / "registry"
    assert _train(registry, "--data", str(csv), "--declaration", str(toml), *CSV_OPTIONS) == 0
    err = capsys.readouterr().err
    assert "column(s) ['always empty'] have no value in any row" in err
    version = _only_version(registry, "empty-full")
    manifest = json.loads((version / "manifest.json").read_text())
    inputs = [i["name"] for i in manifest["inputs"]]
    if policy == "keep":
        assert "kept as always-missing" in err
        assert inputs == ["visit count", "Visitor Type", "always empty", "single"]
        assert "dropped_empty_columns" not in manifest["data"]
    else:
        assert "dropped" in err
        assert inputs == ["visit count", "Visitor Type", "single"]
        assert manifest["variant"]["excluded_columns"] == ["always empty"]
        assert manifest["data"]["dropped_empty_columns"] == ["always empty"]
        # a re-export reads the saved declaration and drops the same column
        assert main(["export", str(version), "--registry", str(tmp_path / "again")]) == 0
        again = json.loads(
            (_only_version(tmp_path / "again", "empty-full") / "manifest.json").read_text()
        )
        assert [i["name"] for i in again["inputs"]] == inputs
    assert manifest["parity"]["status"] == "passed"
    _served_equals_pipeline(version, start_app)


def test_a_bad_empty_columns_setting_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text(_declaration_with_empty_column("ignore"))
    csv = tmp_path / "shop.csv"
    write_awkward_csv(csv, awkward_frame(rows=50))
    assert _train(tmp_path / "r", "--data", str(csv), "--declaration", str(toml), *CSV_OPTIONS) == 2
    err = capsys.readouterr().err
    assert "dataset.empty_columns: must be 'drop' or 'keep', got 'ignore'" in err


def test_train_target_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "t.csv"
    pd.DataFrame({"x": [1.0, 2.0, 3.0], "kind": ["a", "b", "c"]}).to_csv(data, index=False)
    assert _train(tmp_path / "r", "--data", str(data), "--target", "kind") == 2
    # three values are a multiclass target now (issue 12); one row per class is too few
    assert "a multiclass target, but class(es) 'a' (1)" in capsys.readouterr().err
    assert _train(tmp_path / "r", "--target", "kind") == 2
    assert "--target needs --data" in capsys.readouterr().err
    toml = tmp_path / "d.toml"
    toml.write_text(_declaration_with_empty_column(None))
    assert (
        _train(tmp_path / "r", "--data", str(data), "--declaration", str(toml), "--target", "kind")
        == 2
    )
    assert "give --declaration or --target, not both" in capsys.readouterr().err
