"""The whole contract as ONE scikit-learn Pipeline, built from a declaration."""

from __future__ import annotations

from typing import Any

from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from xgboost import XGBClassifier

from tabship.training.contract import (
    CategoryEncoder,
    CategoryNumber,
    FeatureDeriver,
    Float32Cast,
    NumericCleaner,
)
from tabship.training.declaration import Declaration

RANDOM_STATE = 20261126


def build_contract(declaration: Declaration) -> ColumnTransformer:
    """Cleaning, feature engineering and encoding of the declared raw columns.

    Each branch sees one kind of input (float64 numbers or strings), which is what lets the
    ONNX converter map the branches onto typed graph inputs.
    """
    numeric = declaration.numeric_columns
    categorical = declaration.categorical_columns
    aliases = {c.name: c.aliases for c in declaration.columns if c.aliases}
    integer_codes = [c.name for c in declaration.columns if c.integer_codes]
    bounds = {
        c.name: (c.minimum, c.maximum)
        for c in declaration.columns
        if c.kind == "numeric" and (c.minimum is not None or c.maximum is not None)
    }
    numeric_features = [f.as_params() for f in declaration.features if f.kind != "category_number"]
    branches: list[tuple[str, Any, list[str]]] = []
    if numeric:
        branches.append(
            (
                "numeric",
                Pipeline(
                    [
                        ("clean", NumericCleaner(bounds=bounds)),
                        ("derive", FeatureDeriver(features=numeric_features, columns=numeric)),
                    ]
                ),
                numeric,
            )
        )
    # One branch per categorical column: the graph then reads each string input directly
    # instead of concatenating them all and slicing them apart again (string copies).
    for column in categorical:
        branches.append(
            (
                f"categorical_{column}",
                CategoryEncoder(
                    aliases={column: aliases[column]} if column in aliases else {},
                    integer_codes=[column] if column in integer_codes else [],
                ),
                [column],
            )
        )
    for feature in declaration.features:
        if feature.kind == "category_number":
            (column,) = feature.inputs
            branches.append(
                (
                    feature.name,
                    CategoryNumber(
                        mapping=feature.mapping,
                        aliases={column: aliases[column]} if column in aliases else {},
                        integer_codes=[column] if column in integer_codes else [],
                    ),
                    [column],
                )
            )
    # sparse_threshold=0 keeps the encoded matrix dense (PARITY.md: sparse zeros are "missing"
    # to XGBoost but 0.0 in the graph).
    return ColumnTransformer(branches, sparse_threshold=0.0, remainder="drop")


def build_pipeline(declaration: Declaration, **xgb_params: Any) -> Pipeline:
    params: dict[str, Any] = {
        "n_estimators": 300,
        "max_depth": 5,
        "learning_rate": 0.05,
        "tree_method": "hist",
        "n_jobs": 2,
        "random_state": RANDOM_STATE,
        "eval_metric": "logloss",
    }
    params.update(xgb_params)
    return Pipeline(
        [
            ("contract", build_contract(declaration)),
            ("to_float32", Float32Cast()),
            ("model", XGBClassifier(**params)),
        ]
    )
