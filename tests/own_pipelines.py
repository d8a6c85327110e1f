"""Pipelines users fit themselves, on the Palmer penguins (binary and three classes, real
missing values) and on a generated table with missing values, one per supported step and in
combinations. Few trees, so the suite stays fast."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import palmerpenguins
import pandas as pd
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    KBinsDiscretizer,
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
)
from xgboost import XGBClassifier

from tabship.steps import CategoryEncoder, FeatureDeriver, NumericCleaner

NUMBERS = make_column_selector(dtype_include="number")
SPECIES = ["Adelie", "Chinstrap", "Gentoo"]


def penguins() -> tuple[pd.DataFrame, pd.Series]:
    frame = palmerpenguins.load_penguins()
    return frame.drop(columns="species"), frame["species"]


def generated_table(rows: int = 1500, seed: int = 7) -> tuple[pd.DataFrame, pd.Series]:
    """Numbers (one heavy-tailed, one with 20 % missing), text (with missing), an integer
    code column and a column name with a space and a dot; a binary target."""
    rng = np.random.default_rng(seed)
    spend = np.round(rng.lognormal(3, 1.2, rows), 2)
    visits = rng.integers(0, 40, rows).astype(np.float64)
    visits[rng.random(rows) < 0.2] = np.nan
    plan = rng.choice(np.array(["basic", "plus", "pro", None], dtype=object), rows)
    region = rng.choice(
        np.array(["north", "south", "east", "west", "isles"]), rows, p=[0.4, 0.3, 0.2, 0.08, 0.02]
    )
    tenure = rng.integers(1, 7, rows)
    score = 0.02 * spend + 0.1 * np.nan_to_num(visits, nan=5) + (plan == "pro") * 2 - tenure * 0.3
    target = (score + rng.normal(0, 1, rows) > np.median(score)).astype(int)
    frame = pd.DataFrame(
        {
            "spend": spend,
            "visit count.total": visits,
            "plan": plan,
            "region": region,
            "tenure": tenure,
        }
    )
    return frame, pd.Series(target, name="churned")


def _xgb(**params: Any) -> XGBClassifier:
    return XGBClassifier(n_estimators=25, max_depth=3, learning_rate=0.3, n_jobs=1, **params)


def ohe(**params: Any) -> OneHotEncoder:
    return OneHotEncoder(**{"handle_unknown": "ignore", "sparse_output": False, **params})


# name -> preprocessing for the penguins (numbers: 5 columns with missing values; text:
# island, sex with missing values)
PENGUIN_STEPS: dict[str, Callable[[], Any]] = {
    "impute_scale_onehot": lambda: ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUMBERS),
            ("cat", ohe(), ["island", "sex"]),
        ]
    ),
    "ordinal_minmax": lambda: ColumnTransformer(
        [
            ("num", MinMaxScaler(clip=True), NUMBERS),
            (
                "cat",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                [0, 5],  # island, sex by index
            ),
        ]
    ),
    "passthrough_onehot_drop": lambda: ColumnTransformer(
        [("cat", ohe(drop="if_binary"), ["island", "sex"])], remainder="passthrough"
    ),
    "log1p_kbins": lambda: ColumnTransformer(
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
                ["bill_length_mm", "flipper_length_mm", "body_mass_g"],
            ),
            (
                "depth",
                make_pipeline(
                    SimpleImputer(),
                    KBinsDiscretizer(n_bins=4, encode="onehot-dense", strategy="uniform"),
                ),
                ["bill_depth_mm"],
            ),
            (
                "cat",
                make_pipeline(SimpleImputer(strategy="most_frequent"), ohe()),
                ["island", "sex"],
            ),
        ]
    ),
    "robust_maxabs_indicator": lambda: ColumnTransformer(
        [
            (
                "robust",
                make_pipeline(SimpleImputer(add_indicator=True), RobustScaler()),
                ["bill_length_mm", "bill_depth_mm"],
            ),
            (
                "maxabs",
                make_pipeline(SimpleImputer(strategy="constant", fill_value=0.0), MaxAbsScaler()),
                ["flipper_length_mm", "body_mass_g"],
            ),
            ("sqrt", FunctionTransformer(np.sqrt), ["year"]),
            (
                "sex",
                make_pipeline(SimpleImputer(strategy="constant", fill_value="unknown"), ohe()),
                ["sex"],
            ),
            (
                "island",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist", min_frequency=60, sparse_output=False
                ),
                ["island"],
            ),
        ]
    ),
    "missing_as_category_sparse": lambda: ColumnTransformer(
        [
            ("num", "passthrough", NUMBERS),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["island", "sex"]),
        ],
        sparse_threshold=1.0,  # a sparse matrix: XGBoost reads its unstored zeros as missing
    ),
    "tabship_steps": lambda: ColumnTransformer(
        [
            (
                "num",
                make_pipeline(
                    NumericCleaner(bounds={"body_mass_g": (0, None)}),
                    FeatureDeriver(
                        features=[
                            {
                                "name": "mass_per_flipper",
                                "kind": "ratio",
                                "inputs": ["body_mass_g", "flipper_length_mm"],
                            }
                        ],
                        columns=["flipper_length_mm", "body_mass_g"],
                    ),
                ),
                ["flipper_length_mm", "body_mass_g"],
            ),
            ("cat", CategoryEncoder(), ["island", "sex"]),
        ]
    ),
}

GENERATED_STEPS: dict[str, Callable[[], Any]] = {
    "generated_mixed": lambda: ColumnTransformer(
        [
            (
                "spend",
                make_pipeline(
                    FunctionTransformer(np.sqrt, feature_names_out="one-to-one"), StandardScaler()
                ),
                ["spend"],
            ),
            ("visits", SimpleImputer(strategy="median", add_indicator=True), ["visit count.total"]),
            ("plan", make_pipeline(SimpleImputer(strategy="most_frequent"), ohe()), ["plan"]),
            ("region", ohe(max_categories=3, handle_unknown="infrequent_if_exist"), ["region"]),
            ("tenure", ohe(), ["tenure"]),  # integer categories, a numeric input
        ]
    ),
}


def fit(preprocessing: Any, X: pd.DataFrame, y: Any, **model: Any) -> Pipeline:
    return Pipeline([("prep", preprocessing), ("model", _xgb(**model))]).fit(X, y)


def species_codes(y: pd.Series) -> np.ndarray:
    return y.map({name: i for i, name in enumerate(SPECIES)}).to_numpy()


def is_gentoo(y: pd.Series) -> np.ndarray:
    return (y == "Gentoo").to_numpy().astype(int)
