"""The whole contract as one Pipeline: fits on the dirty default data, predicts on raw dirty rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from tabship.training.contract import Float32Cast
from tabship.training.declaration import Declaration
from tabship.training.pipeline import build_pipeline
from tabship.training.prepare import prepare

NAN = float("nan")


@pytest.fixture(scope="module")
def fitted(exported) -> Pipeline:  # type: ignore[no-untyped-def]
    return exported.pipeline


@pytest.fixture(scope="module")
def base_row(exported) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {
        "Administrative": 2,
        "Administrative_Duration": 80.0,
        "Informational": 0,
        "Informational_Duration": 0.0,
        "ProductRelated": 30,
        "ProductRelated_Duration": 1200.0,
        "BounceRates": 0.01,
        "ExitRates": 0.03,
        "PageValues": 12.5,
        "SpecialDay": 0.0,
        "Month": "Nov",
        "OperatingSystems": "2",
        "Browser": "2",
        "Region": "1",
        "TrafficType": "2",
        "VisitorType": "Returning_Visitor",
        "Weekend": "FALSE",
    }


def _proba(pipeline: Pipeline, rows: list[dict[str, object]]) -> np.ndarray:
    frame = pd.DataFrame([{k: v for k, v in r.items()} for r in rows], dtype=object)
    return pipeline.predict_proba(frame)[:, 1]


def _variants(
    base: dict[str, object], column: str, values: list[object]
) -> list[dict[str, object]]:
    return [{**base, column: v} for v in values]


def test_structure(fitted: Pipeline, declaration: Declaration) -> None:
    assert [name for name, _ in fitted.steps] == ["contract", "to_float32", "model"]
    assert isinstance(fitted.named_steps["to_float32"], Float32Cast)
    contract = fitted.named_steps["contract"]
    assert contract.sparse_threshold == 0.0
    encoded = contract.transform(pd.DataFrame([dict.fromkeys(declaration.raw_columns)]))
    assert isinstance(encoded, np.ndarray)  # dense: sparse zeros would be "missing" to XGBoost
    assert encoded.dtype == np.float64
    names = list(contract.get_feature_names_out())
    assert len(names) == encoded.shape[1] == fitted.named_steps["model"].n_features_in_
    assert "numeric__PageValues_positive" in names
    assert "categorical_VisitorType__VisitorType=__unknown__" in names
    assert "Month_number__Month_number" in names


def test_fits_on_dirty_default_data_variant(
    declaration: Declaration, sessions: pd.DataFrame
) -> None:
    variant = declaration.for_variant("no_pagevalues")
    prepared = prepare(sessions, declaration, "generated")
    pipeline = build_pipeline(variant, n_estimators=10).fit(
        prepared.features[variant.raw_columns], prepared.target
    )
    names = list(pipeline.named_steps["contract"].get_feature_names_out())
    assert not any("PageValues" in n for n in names)
    proba = pipeline.predict_proba(prepared.features[variant.raw_columns])
    assert proba.shape == (len(prepared.features), 2)
    assert np.isfinite(proba).all()


def test_predicts_on_raw_rows_of_the_dirty_data(fitted: Pipeline, sessions: pd.DataFrame) -> None:
    proba = fitted.predict_proba(sessions.drop(columns="Revenue"))
    assert proba.shape == (len(sessions), 2)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


def test_predicts_on_hostile_raw_rows(fitted: Pipeline, base_row: dict[str, object]) -> None:
    everything_missing = dict.fromkeys(base_row)
    everything_nan = dict.fromkeys(base_row, NAN)
    everything_blank = dict.fromkeys(base_row, "  ")
    nonsense = dict.fromkeys(base_row, "no idea")
    huge = {
        **base_row,
        "ProductRelated_Duration": 1e308,
        "Administrative_Duration": "1e308",
        "PageValues": 5e-324,
        "Informational_Duration": -1e308,
    }
    proba = _proba(
        fitted, [base_row, everything_missing, everything_nan, everything_blank, nonsense, huge]
    )
    assert np.isfinite(proba).all()
    assert ((proba >= 0) & (proba <= 1)).all()
    # None, NaN and blank text are all "missing"; nonsense text is missing for numbers and
    # unknown for categories: a different row.
    assert proba[1] == proba[2] == proba[3]


@pytest.mark.parametrize(
    ("column", "spellings"),
    [
        ("OperatingSystems", [2, 2.0, "2", "02", " 2.0 ", np.int64(2), "+2", "2."]),
        ("Browser", [1, 1.0, "1", "001", "1.00"]),
        ("Month", ["Nov", "nov", "NOV", " November ", "november\t"]),
        (
            "VisitorType",
            ["Returning_Visitor", "returning visitor", " RETURNING-VISITOR ", "returningvisitor"],
        ),
        ("Weekend", ["TRUE", "true", " True", "1", "yes", True, 1]),
        ("PageValues", [12.5, "12.5", " 12.50 ", "1.25e1", np.float32(12.5)]),
        ("Administrative", [2, 2.0, "2", " 2 ", "2.0"]),
    ],
)
def test_spellings_of_one_value_predict_the_same(
    fitted: Pipeline, base_row: dict[str, object], column: str, spellings: list[object]
) -> None:
    proba = _proba(fitted, _variants(base_row, column, spellings))
    assert len(set(proba.tolist())) == 1, dict(zip(map(repr, spellings), proba, strict=True))


@pytest.mark.parametrize(
    ("column", "equivalents"),
    [
        # impossible numbers are missing
        ("BounceRates", [None, NAN, "", "n/a", "abc", 1.5, -0.1, "inf", float("-inf")]),
        ("ProductRelated_Duration", [None, -5.0, "-5", "twelve", float("inf")]),
        # unseen categories share the unknown bucket
        ("Browser", ["99", 99, "banana", "2.5", -1]),
        ("VisitorType", ["Alien", "robot", "returning"]),
        # missing categories share the missing bucket
        ("Region", [None, NAN, "", "   "]),
        ("Month", [None, NAN, "", "\t"]),
    ],
)
def test_dirty_values_fall_in_the_same_bucket(
    fitted: Pipeline, base_row: dict[str, object], column: str, equivalents: list[object]
) -> None:
    proba = _proba(fitted, _variants(base_row, column, equivalents))
    assert len(set(proba.tolist())) == 1, dict(zip(map(repr, equivalents), proba, strict=True))


def test_missing_and_unknown_category_are_different_buckets(fitted: Pipeline) -> None:
    contract = fitted.named_steps["contract"]
    names = list(contract.get_feature_names_out())
    rows = pd.DataFrame(
        [
            dict.fromkeys(contract.feature_names_in_, None),
            dict.fromkeys(contract.feature_names_in_, "zz"),
        ]
    )
    encoded = contract.transform(rows)
    missing = encoded[:, names.index("categorical_VisitorType__VisitorType=__missing__")]
    unknown = encoded[:, names.index("categorical_VisitorType__VisitorType=__unknown__")]
    np.testing.assert_array_equal(missing, [1.0, 0.0])
    np.testing.assert_array_equal(unknown, [0.0, 1.0])


def test_single_row_and_column_order(fitted: Pipeline, base_row: dict[str, object]) -> None:
    one = _proba(fitted, [base_row])
    shuffled = pd.DataFrame([base_row], dtype=object)[list(reversed(list(base_row)))]
    np.testing.assert_array_equal(fitted.predict_proba(shuffled)[:, 1], one)
