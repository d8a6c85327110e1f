"""What a user's fitted pipeline refuses is refused before the graph, by every consumer: a
number outside a step's domain (log1p then KBinsDiscretizer: > -1), a missing value where no
imputer comes before KBinsDiscretizer, an unknown category where the encoder has
handle_unknown="error". The manifest records the rules, the gate counts such rows as expected
refusals, the server answers 422 naming row, column and reason, batch sends the rows to its
rejects, the vectors carry the codes, and the Node, Java and Go consumers refuse exactly those
rows and score the others as Python does (slow: one release, a server, batch and three
consumers, about a minute)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import AppServer
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    KBinsDiscretizer,
    OneHotEncoder,
    OrdinalEncoder,
)

import tabship
from tabship.contract.rules import reason_code

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from own_pipelines import fit, is_gentoo, penguins

from tabship.parity_tests.vectors import write_vectors

REPO = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-6
JUST_ABOVE_MINUS_ONE = float(np.nextafter(-1.0, 0.0))


def _steps() -> ColumnTransformer:
    return ColumnTransformer(
        [
            (
                "num",
                make_pipeline(
                    SimpleImputer(strategy="mean"),
                    FunctionTransformer(np.log1p),
                    KBinsDiscretizer(
                        n_bins=5, encode="ordinal", quantile_method="averaged_inverted_cdf"
                    ),
                ),
                ["bill_length_mm", "flipper_length_mm"],
            ),
            # no imputer first: KBinsDiscretizer refuses a missing year
            (
                "year",
                KBinsDiscretizer(n_bins=3, encode="onehot-dense", strategy="uniform"),
                ["year"],
            ),
            ("island", OneHotEncoder(sparse_output=False), ["island"]),  # handle_unknown="error"
            (
                "sex",
                make_pipeline(SimpleImputer(strategy="most_frequent"), OrdinalEncoder()),
                ["sex"],
            ),
        ]
    )


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, pd.DataFrame]:
    X, species = penguins()
    y = is_gentoo(species)
    train, test = X.iloc[::2], X.iloc[1::2]
    pipeline = fit(_steps(), train, y[::2])
    done = tabship.release(  # type: ignore[operator]
        pipeline,
        train=(train, pd.Series(y[::2], name="gentoo")),
        test=(test, pd.Series(y[1::2], name="gentoo")),
        name="penguins-rules",
        registry=str(tmp_path_factory.mktemp("registry")),
        generated=600,
    )
    return done, pipeline, test.reset_index(drop=True)


def _bad_rows(test: pd.DataFrame) -> pd.DataFrame:
    """Row 0 is good; rows 1-4 each break one rule the pipeline itself enforces."""
    base = test.dropna().iloc[0]
    rows = [base.copy() for _ in range(6)]
    rows[1]["bill_length_mm"] = -1.0  # log1p(-1) = -inf: KBinsDiscretizer raises
    rows[2]["flipper_length_mm"] = -2.0  # log1p(-2) = NaN: KBinsDiscretizer raises
    rows[3]["year"] = np.nan  # missing, nothing imputes it before KBinsDiscretizer
    rows[4]["island"] = "Atlantis"  # OneHotEncoder(handle_unknown="error") raises
    rows[5]["bill_length_mm"] = JUST_ABOVE_MINUS_ONE  # inside the domain: scored
    return pd.DataFrame(rows).reset_index(drop=True)


def test_the_manifest_records_what_the_fitted_steps_refuse(
    released: tuple[Any, Any, pd.DataFrame],
) -> None:
    done, pipeline, test = released
    inputs = {
        i["name"]: i for i in json.loads((done.folder / "manifest.json").read_text())["inputs"]
    }
    for column in ("bill_length_mm", "flipper_length_mm"):
        assert inputs[column]["domain"] == {"min": JUST_ABOVE_MINUS_ONE, "max": None}
        assert inputs[column]["nullable"] is True  # imputed before log1p
        assert "KBinsDiscretizer" in inputs[column]["rules"][0]
    assert inputs["year"]["nullable"] is False
    assert "domain" not in inputs["year"]
    assert inputs["island"]["unknown"] == "refused"
    assert inputs["island"]["categories"] == ["Biscoe", "Dream", "Torgersen"]
    assert inputs["island"]["nullable"] is False  # the encoder saw no missing island
    assert inputs["sex"]["unknown"] == "refused"
    assert inputs["sex"]["nullable"] is True  # the imputer fills it first
    assert "unknown" not in inputs["body_mass_g"]
    # the rules are scikit-learn's own: each refused row raises there, the edge row scores
    rows = _bad_rows(test)
    for index in range(1, 5):
        with (
            pytest.raises(ValueError, match=r"NaN|infinity|unknown categories"),
            np.errstate(all="ignore"),
        ):
            pipeline.predict_proba(rows.iloc[[index]])
    pipeline.predict_proba(rows.iloc[[0, 5]])


def test_the_gate_counts_refused_rows_as_expected_refusals(
    released: tuple[Any, Any, pd.DataFrame],
) -> None:
    done, _, _ = released
    assert done.passed, done
    sets = {s["name"]: s for s in done.outcome["sets"]}
    assert sets["test"]["refused"] == sets["train"]["refused"] == 0
    assert sets["hostile"]["refused"] > 0
    assert sets["generated"]["refused"] > 0
    assert all(s["tree_input_cells"] == 0 for s in sets.values())
    assert "refused on inputs with the model's own rules" in done.gate_table


def test_the_server_answers_422_naming_row_column_and_reason(
    released: tuple[Any, Any, pd.DataFrame],
) -> None:
    done, pipeline, test = released
    rows = _bad_rows(test)
    server = AppServer(done.folder)
    try:
        refused = server.client.post("/v1/predict", json=_rows(rows))
        scored = server.client.post("/v1/predict", json=_rows(rows.iloc[[0, 5]]))
    finally:
        server.stop()
    assert refused.status_code == 422
    problems = {
        (p["row"], p["column"], reason_code(p["reason"]))
        for p in refused.json()["error"]["problems"]
    }
    assert problems == {
        (1, "bill_length_mm", "outside_domain"),
        (2, "flipper_length_mm", "outside_domain"),
        (3, "year", "null_not_nullable"),
        (4, "island", "unknown_category"),
    }
    assert scored.status_code == 200
    got = np.array([p["probability"] for p in scored.json()["predictions"]])
    assert np.abs(got - pipeline.predict_proba(rows.iloc[[0, 5]])[:, 1]).max() <= TOLERANCE


def test_batch_sends_the_refused_rows_to_rejects(
    released: tuple[Any, Any, pd.DataFrame], tmp_path: Path
) -> None:
    done, pipeline, test = released
    rows = _bad_rows(test)
    rows.to_csv(tmp_path / "in.csv", index=False)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tabship.cli.main",
            "score",
            "--model",
            str(done.folder),
            str(tmp_path / "in.csv"),
            str(tmp_path / "out.csv"),
            "--rejects",
            str(tmp_path / "rejects.csv"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rejects = pd.read_csv(tmp_path / "rejects.csv")
    assert sorted(set(rejects.iloc[:, 0])) == [1, 2, 3, 4]
    assert "outside" in " ".join(rejects.astype(str).to_numpy().ravel())
    out = pd.read_csv(tmp_path / "out.csv")
    assert len(out) == 2
    expected = pipeline.predict_proba(rows.iloc[[0, 5]])[:, 1]
    assert np.abs(out["probability"].to_numpy() - expected).max() <= TOLERANCE


@pytest.fixture(scope="module")
def vectors(
    released: tuple[Any, Any, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    done, _, _ = released
    out = tmp_path_factory.mktemp("vectors") / "own.jsonl"
    write_vectors(done.folder, out, generated=300)
    return out


def test_the_vectors_carry_the_refusal_codes(vectors: Path) -> None:
    codes = {
        refusal["code"]
        for line in vectors.read_text().splitlines()[1:]
        for refusal in json.loads(line).get("refused", [])
    }
    assert {"outside_domain", "unknown_category", "null_not_nullable"} <= codes


CONSUMERS = {
    "node": ["node", "clients/node/bin/vectors.js"],
    "java": ["java", "-jar", "clients/java/target/tabship-client.jar", "vectors"],
    "go": ["clients/go/bin/tabship-go", "vectors"],
}


@pytest.mark.parametrize("consumer", list(CONSUMERS))
def test_consumers_refuse_and_score_an_own_pipeline_as_python_does(
    consumer: str, vectors: Path, released: tuple[Any, Any, pd.DataFrame]
) -> None:
    done, _, _ = released
    env = {
        **os.environ,
        "TABSHIP_ONNXRUNTIME_LIB": str(REPO / "clients/go/lib/libonnxruntime.so.1"),
    }
    result = subprocess.run(
        [*CONSUMERS[consumer], str(vectors), str(done.folder), "--json", "--require-bit-equal"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-2000:]
    summary = json.loads(result.stdout)
    sets = {s["name"]: s for s in summary["sets"]}
    assert all(s["refused_matched"] == s["refused"] for s in sets.values())
    assert sets["hostile"]["refused"] > 0
    assert all(s["bit_equal"] == s["scored"] > 0 for s in sets.values())


def test_node_scores_the_own_pipeline_equal_to_predict_proba(
    released: tuple[Any, Any, pd.DataFrame], tmp_path: Path
) -> None:
    done, pipeline, test = released
    (tmp_path / "rows.json").write_text(json.dumps(_rows(test)))
    result = subprocess.run(
        ["node", "clients/node/bin/score.js", str(done.folder), str(tmp_path / "rows.json")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    got = np.array([r["probability"] for r in json.loads(result.stdout)["results"]])
    assert np.abs(got - pipeline.predict_proba(test)[:, 1]).max() <= TOLERANCE
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_rows(_bad_rows(test))))
    refused = subprocess.run(
        ["node", "clients/node/bin/score.js", str(done.folder), str(bad)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert refused.returncode == 1
    problems = {(p["row"], p["column"], p["code"]) for p in json.loads(refused.stdout)["problems"]}
    assert (4, "island", "unknown_category") in problems
    assert (1, "bill_length_mm", "outside_domain") in problems
