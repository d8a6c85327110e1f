"""A user's own fitted pipelines converted (export/standard/): every supported step, alone and
combined, on the penguins (binary and three classes) and a generated table, computes
predict_proba within 1e-6 and hands the trees bit-identical float32 values; a step with no
exact converter is refused by its path."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from own_pipelines import (
    GENERATED_STEPS,
    PENGUIN_STEPS,
    fit,
    generated_table,
    is_gentoo,
    ohe,
    penguins,
    species_codes,
)
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder, StandardScaler
from xgboost import XGBClassifier

import tabship
from tabship.export.standard.refusal import StepRefused
from tabship.parity_tests.compare import feeds_for
from tabship.parity_tests.tree_inputs import compare_tree_inputs, tree_input_session
from tabship.training.own.contract import ContractError, read_columns
from tabship.training.own.reference import own_reference

CASES = [(name, "binary") for name in PENGUIN_STEPS] + [
    (name, "multiclass") for name in PENGUIN_STEPS
]
CASES += [(name, "binary") for name in GENERATED_STEPS]


def _data(name: str, target: str) -> tuple[pd.DataFrame, Any]:
    if name in GENERATED_STEPS:
        X, y = generated_table()
        return X, y.to_numpy()
    X, species = penguins()
    return X, species_codes(species) if target == "multiclass" else is_gentoo(species)


@pytest.mark.parametrize(("name", "target"), CASES)
def test_converted_pipeline_equals_predict_proba(name: str, target: str) -> None:
    X, y = _data(name, target)
    pipeline = fit({**PENGUIN_STEPS, **GENERATED_STEPS}[name](), X, y)
    data = tabship.convert(pipeline, X).SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(X.columns)
    _, probabilities, _ = session.run(None, feeds_for(session, X))
    assert np.abs(probabilities - pipeline.predict_proba(X)).max() <= 1e-6
    reference = own_reference(pipeline, read_columns(pipeline, X))
    probe = tree_input_session(data)
    assert probe is not None
    assert compare_tree_inputs(reference, probe, X).cells == 0


def _refusal(pipeline: Any, X: pd.DataFrame) -> str:
    with pytest.raises(StepRefused) as caught:
        tabship.convert(pipeline, X)
    return str(caught.value)


class MyEncoder(TransformerMixin, BaseEstimator):
    def fit(self, X: Any, y: Any = None) -> MyEncoder:
        return self

    def transform(self, X: Any) -> Any:
        return np.ones((len(X), 1))


def test_unknown_steps_are_refused_by_path() -> None:
    X, species = penguins()
    y = is_gentoo(species)
    nested = ColumnTransformer(
        [
            ("num", make_pipeline(StandardScaler()), ["bill_length_mm"]),
            ("cat", Pipeline([("encode", MyEncoder())]), ["island"]),
        ]
    )
    message = _refusal(fit(nested, X, y), X)
    assert message.startswith("prep/cat/encode: MyEncoder:")
    assert "supported steps: Pipeline" in message
    lam = ColumnTransformer([("num", FunctionTransformer(lambda v: v * 2), ["bill_length_mm"])])
    assert _refusal(fit(lam, X, y), X).startswith("prep/num: FunctionTransformer: func=<lambda>")
    # handle_unknown="error" is converted (its unknowns refused by the input's rule), except
    # on a computed column, where no rule on a raw input can state the refusal
    scaled = ColumnTransformer(
        [("num", make_pipeline(StandardScaler(), OrdinalEncoder()), ["year"])]
    )
    message = _refusal(fit(scaled, X, y), X)
    assert message.startswith("prep/num/ordinalencoder: OrdinalEncoder: handle_unknown='error'")
    sentinel = Pipeline(
        [
            ("prep", ColumnTransformer([("cat", ohe(), ["island"])])),
            ("model", XGBClassifier(n_estimators=3, missing=0.0)),
        ]
    ).fit(X, y)
    assert re.match(r"model: XGBClassifier: missing=0\.0", _refusal(sentinel, X))


def test_contract_refusals_name_the_problem() -> None:
    X, species = penguins()
    y = is_gentoo(species)
    no_names = Pipeline([("model", XGBClassifier(n_estimators=3))]).fit(
        X[["bill_length_mm"]].to_numpy(), y
    )
    with pytest.raises(ContractError, match="feature_names_in_"):
        tabship.convert(no_names, X)
    with pytest.raises(ContractError, match="expected a fitted scikit-learn Pipeline"):
        tabship.convert(XGBClassifier(), X)
    spelled = X.assign(sex=X["sex"].fillna("nan"))
    pipeline = fit(ColumnTransformer([("cat", ohe(), ["sex"])]), spelled, y)
    with pytest.raises(ContractError, match="'nan'"):
        tabship.convert(pipeline, spelled)


def _assert_exact(pipeline: Any, X: pd.DataFrame) -> np.ndarray:
    data = tabship.convert(pipeline, X).SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    _, probabilities, _ = session.run(None, feeds_for(session, X))
    assert np.abs(probabilities - pipeline.predict_proba(X)).max() <= 1e-6
    probe = tree_input_session(data)
    assert probe is not None
    reference = own_reference(pipeline, read_columns(pipeline, X))
    assert compare_tree_inputs(reference, probe, X).cells == 0
    return np.asarray(probabilities)


def test_set_output_pandas_names_the_boosters_features_and_still_converts() -> None:
    X, species = penguins()
    pipeline = Pipeline(
        [
            ("prep", PENGUIN_STEPS["impute_scale_onehot"]()),
            ("model", XGBClassifier(n_estimators=10)),
        ]
    ).set_output(transform="pandas")
    pipeline.fit(X, is_gentoo(species))
    names = pipeline.named_steps["model"].get_booster().feature_names
    assert names is not None
    assert names[0].startswith("num__")  # not f0, f1 ...: what onnxmltools cannot read
    _assert_exact(pipeline, X)
    assert pipeline.named_steps["model"].get_booster().feature_names == names  # left as it was


def test_pandas_category_columns_are_read_by_their_categories_dtype() -> None:
    X, species = penguins()
    y = is_gentoo(species)
    text = X.assign(island=X["island"].astype("category"), sex=X["sex"].astype("category"))
    pipeline = fit(PENGUIN_STEPS["impute_scale_onehot"](), text, y)
    kinds = {c.name: c.kind for c in read_columns(pipeline, text)}
    assert kinds["island"] == kinds["sex"] == "categorical"
    _assert_exact(pipeline, text)
    numbers = X.assign(year=X["year"].astype("category"))  # integer categories: a number input
    pipeline = fit(
        ColumnTransformer([("year", ohe(), ["year"]), ("i", ohe(), ["island"])]), numbers, y
    )
    assert {c.name: c.kind for c in read_columns(pipeline, numbers)}["year"] == "numeric"
    _assert_exact(pipeline, numbers)


def test_early_stopping_converts_the_best_iteration() -> None:
    X, species = penguins()
    y = is_gentoo(species)
    train, valid = X.iloc[::2], X.iloc[1::2]
    prep = PENGUIN_STEPS["impute_scale_onehot"]().fit(train)
    model = XGBClassifier(
        n_estimators=300, learning_rate=0.3, early_stopping_rounds=5, eval_metric="logloss"
    )
    pipeline = Pipeline([("prep", PENGUIN_STEPS["impute_scale_onehot"]()), ("model", model)])
    pipeline.fit(train, y[::2], model__eval_set=[(prep.transform(valid), y[1::2])])
    booster = pipeline.named_steps["model"]
    assert booster.best_iteration + 1 < booster.get_booster().num_boosted_rounds()
    converted = _assert_exact(pipeline, X)
    every_tree = booster.get_booster().inplace_predict(
        pipeline[:-1].transform(X), iteration_range=(0, booster.get_booster().num_boosted_rounds())
    )
    assert np.abs(converted[:, 1] - every_tree).max() > 1e-3  # the cut is what is compared
