"""The contract transformers: scikit-learn's estimator checks, then each cleaning rule on
hand-made dirty rows."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import estimator_checks_generator

from tabship.training.contract import (
    CategoryEncoder,
    CategoryNumber,
    FeatureDeriver,
    Float32Cast,
    NumericCleaner,
)
from tabship.training.declaration import DeclarationError, load_declaration

NAN = float("nan")

ESTIMATORS = [
    NumericCleaner(),
    NumericCleaner(bounds={}),
    FeatureDeriver(),
    FeatureDeriver(
        features=[
            {"name": "total", "kind": "sum", "inputs": ["x0"]},
            {"name": "flag", "kind": "positive", "inputs": ["x0"]},
        ]
    ),
    CategoryEncoder(),
    CategoryEncoder(aliases={}, integer_codes=[]),
    CategoryNumber(),
    Float32Cast(),
]


def _checks():  # type: ignore[no-untyped-def]
    # The same checks parametrize_with_checks runs, minus the array-API ones: they need
    # SCIPY_ARRAY_API set before scipy is imported and would only ever be skipped here (none of
    # these transformers claims array-API support).
    for estimator in ESTIMATORS:
        for est, check in estimator_checks_generator(estimator, legacy=True):
            name = getattr(check, "func", check).__name__
            if name.startswith("check_array_api"):
                continue
            yield pytest.param(est, check, id=f"{est!r}-{name}")


@pytest.mark.parametrize(("estimator", "check"), list(_checks()))
def test_sklearn_estimator_checks(estimator, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)


# ------------------------------------------------------------------------------------------
# NumericCleaner
# ------------------------------------------------------------------------------------------


def _clean(values: list[object], bounds: tuple[float | None, float | None] = (None, None)):  # type: ignore[no-untyped-def]
    frame = pd.DataFrame({"x": pd.Series(values, dtype=object)})
    cleaner = NumericCleaner(bounds={"x": bounds}).fit(frame)
    return cleaner.transform(frame)[:, 0]


def test_numeric_text_is_parsed() -> None:
    out = _clean(["12", " 3.5 ", "1e2", "\t-4\n", 7, 2.25, np.int64(9)])
    np.testing.assert_array_equal(out, [12.0, 3.5, 100.0, -4.0, 7.0, 2.25, 9.0])
    assert out.dtype == np.float64


@pytest.mark.parametrize("text", ["abc", "n/a", "12 kg", "1,5", "", "   ", "--1", "0x10"])
def test_numeric_unparsable_text_is_missing(text: str) -> None:
    assert np.isnan(_clean([text, "1"])[0])


@pytest.mark.parametrize("value", [None, NAN, np.nan, pd.NA, True])
def test_numeric_missing_and_non_numbers_are_missing(value: object) -> None:
    assert np.isnan(_clean([value, 1.0])[0])


@pytest.mark.parametrize("value", [math.inf, -math.inf, "inf", "-Infinity", np.float64("inf")])
def test_numeric_infinite_is_missing(value: object) -> None:
    assert np.isnan(_clean([value, 1.0])[0])


def test_numeric_out_of_bounds_is_missing_and_bounds_are_inclusive() -> None:
    out = _clean([-1.0, "-0.5", 0.0, 0.5, 1.0, 1.0000001, "2"], bounds=(0.0, 1.0))
    np.testing.assert_array_equal(out, [NAN, NAN, 0.0, 0.5, 1.0, NAN, NAN])


def test_numeric_one_sided_bounds() -> None:
    np.testing.assert_array_equal(_clean([-3.0, 1e300], bounds=(0.0, None)), [NAN, 1e300])
    np.testing.assert_array_equal(_clean([-3.0, 1e300], bounds=(None, 10.0)), [-3.0, NAN])


def test_numeric_negative_zero_is_kept_with_its_sign() -> None:
    out = _clean([-0.0, "-0.0"], bounds=(0.0, 1.0))
    np.testing.assert_array_equal(out, [0.0, 0.0])
    np.testing.assert_array_equal(np.signbit(out), [True, True])


def test_numeric_float_input_is_not_modified_in_place() -> None:
    values = np.array([[1.0], [math.inf], [-2.0]])
    cleaner = NumericCleaner(bounds={}).fit(values)
    np.testing.assert_array_equal(cleaner.transform(values)[:, 0], [1.0, NAN, -2.0])
    np.testing.assert_array_equal(values[:, 0], [1.0, math.inf, -2.0])


def test_numeric_bounds_for_unknown_column_fail() -> None:
    with pytest.raises(ValueError, match="'nope'"):
        NumericCleaner(bounds={"nope": (0, 1)}).fit(pd.DataFrame({"x": [1.0]}))


# ------------------------------------------------------------------------------------------
# CategoryEncoder
# ------------------------------------------------------------------------------------------

VISITOR_ALIASES = {"returning visitor": "returning_visitor", "newvisitor": "new_visitor"}


def _encode(train: dict[str, list[object]], rows: dict[str, list[object]], **params):  # type: ignore[no-untyped-def]
    encoder = CategoryEncoder(**params).fit(pd.DataFrame(train, dtype=object))
    out = encoder.transform(pd.DataFrame(rows, dtype=object))
    names = list(encoder.get_feature_names_out())
    return encoder, names, out


def _hot(names: list[str], row: np.ndarray) -> list[str]:
    return [n for n, v in zip(names, row, strict=True) if v == 1.0]


def test_category_case_whitespace_and_aliases() -> None:
    train = {"V": ["Returning_Visitor", "New_Visitor", "Other"]}
    rows = [
        "returning_visitor",
        " RETURNING_VISITOR\t",
        "Returning Visitor",
        "  newVisitor ",
        "OTHER",
    ]
    encoder, names, out = _encode(train, {"V": rows}, aliases={"V": VISITOR_ALIASES})
    assert encoder.categories_ == [["new_visitor", "other", "returning_visitor"]]
    assert names == [
        "V=new_visitor",
        "V=other",
        "V=returning_visitor",
        "V=__unknown__",
        "V=__missing__",
    ]
    assert [_hot(names, r) for r in out] == [
        ["V=returning_visitor"],
        ["V=returning_visitor"],
        ["V=returning_visitor"],
        ["V=new_visitor"],
        ["V=other"],
    ]
    assert out.dtype == np.float64


def test_category_aliases_in_training_data_are_folded() -> None:
    encoder, _, _ = _encode(
        {"V": ["returning visitor", "Returning_Visitor", "NEWVISITOR"]},
        {"V": ["x"]},
        aliases={"V": VISITOR_ALIASES},
    )
    assert encoder.categories_ == [["new_visitor", "returning_visitor"]]


@pytest.mark.parametrize(
    "spelling", [2, 2.0, np.int64(2), np.float64(2.0), "2", "02", " 2.0 ", "2.", "+2", "002.00"]
)
def test_integer_codes_have_one_canonical_form(spelling: object) -> None:
    train = {"OS": [2, "2.0", "3", 3.0, "02"]}
    encoder, names, out = _encode(train, {"OS": [spelling]}, integer_codes=["OS"])
    assert encoder.categories_ == [["2", "3"]]
    assert _hot(names, out[0]) == ["OS=2"]


@pytest.mark.parametrize("spelling", ["2.5", "-2", "two", "20", "1e1", 7, 2.5])
def test_integer_codes_other_values_are_unknown(spelling: object) -> None:
    _, names, out = _encode({"OS": ["2", "3"]}, {"OS": [spelling]}, integer_codes=["OS"])
    assert _hot(names, out[0]) == ["OS=__unknown__"]


def test_integer_codes_mixed_spellings_in_one_column() -> None:
    column = [2, 2.0, "2", "02", " 2.0 "]
    _, names, out = _encode({"OS": column}, {"OS": column}, integer_codes=["OS"])
    assert names == ["OS=2", "OS=__unknown__", "OS=__missing__"]
    np.testing.assert_array_equal(out, [[1.0, 0.0, 0.0]] * len(column))


@pytest.mark.parametrize("value", ["Alien", "returning", "returning_visitor!", "__unknown__"])
def test_category_unseen_goes_to_unknown(value: str) -> None:
    _, names, out = _encode({"V": ["Returning_Visitor", "Other"]}, {"V": [value]})
    assert _hot(names, out[0]) == ["V=__unknown__"]


@pytest.mark.parametrize("value", [None, NAN, np.nan, "", "  ", "\t\n"])
def test_category_missing_goes_to_missing(value: object) -> None:
    _, names, out = _encode({"V": ["Returning_Visitor", "Other"]}, {"V": [value, "other"]})
    assert _hot(names, out[0]) == ["V=__missing__"]
    assert _hot(names, out[1]) == ["V=other"]


def test_category_missing_in_training_is_not_a_label() -> None:
    encoder, _, _ = _encode({"V": ["a", None, "", "  ", NAN]}, {"V": ["a"]})
    assert encoder.categories_ == [["a"]]


def test_category_every_row_has_exactly_one_indicator_per_column() -> None:
    train = {"V": ["a", "b"], "OS": ["1", "2"]}
    rows = {"V": ["A", None, "zzz", " b "], "OS": [1.0, "", "9", "02"]}
    _, _, out = _encode(train, rows, integer_codes=["OS"])
    np.testing.assert_array_equal(out[:, :4].sum(axis=1), [1.0] * 4)
    np.testing.assert_array_equal(out[:, 4:].sum(axis=1), [1.0] * 4)


def test_category_rules_for_unknown_column_fail() -> None:
    with pytest.raises(ValueError, match="nope"):
        CategoryEncoder(integer_codes=["nope"]).fit(pd.DataFrame({"V": ["a"]}))


# ------------------------------------------------------------------------------------------
# CategoryNumber
# ------------------------------------------------------------------------------------------

MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip


def _months(values: list[object]) -> np.ndarray:
    numberer = CategoryNumber(
        mapping=MONTHS, aliases={"Month": {"june": "jun", "sept": "sep", "september": "sep"}}
    ).fit(pd.DataFrame({"Month": ["May", "Nov"]}, dtype=object))
    return numberer.transform(pd.DataFrame({"Month": values}, dtype=object))[:, 0]


def test_month_spellings_map_to_the_same_number() -> None:
    out = _months(["June", "jun", "JUNE", " Jun ", "Sept", "september", "NOV", "feb"])
    np.testing.assert_array_equal(out, [6, 6, 6, 6, 9, 9, 11, 2])


@pytest.mark.parametrize("value", ["Juno", "13", "Ju", None, NAN, "", "  "])
def test_month_unknown_or_missing_is_nan(value: object) -> None:
    assert np.isnan(_months([value])[0])


def test_category_number_without_mapping_numbers_sorted_labels() -> None:
    numberer = CategoryNumber().fit(pd.DataFrame({"c": ["b", "A", "c", "a"]}, dtype=object))
    out = numberer.transform(pd.DataFrame({"c": ["a", "B", "c", "d"]}, dtype=object))[:, 0]
    np.testing.assert_array_equal(out, [1.0, 2.0, 3.0, NAN])
    assert list(numberer.get_feature_names_out()) == ["c_number"]


# ------------------------------------------------------------------------------------------
# FeatureDeriver
# ------------------------------------------------------------------------------------------


def _derive(kind: str, *columns: list[float]) -> np.ndarray:
    names = [f"c{i}" for i in range(len(columns))]
    frame = pd.DataFrame(dict(zip(names, columns, strict=True)), dtype=np.float64)
    deriver = FeatureDeriver(features=[{"name": "f", "kind": kind, "inputs": names}]).fit(frame)
    out = deriver.transform(frame)
    assert list(deriver.get_feature_names_out()) == [*names, "f"]
    np.testing.assert_array_equal(out[:, :-1], frame.to_numpy())  # inputs pass through
    return out[:, -1]


def test_ratio_with_zero_denominator_is_nan() -> None:
    out = _derive(
        "ratio", [10.0, 0.0, 5.0, NAN, 3.0, 1.0, 4.0], [4.0, 0.0, 0.0, 2.0, NAN, -0.0, 2.0]
    )
    np.testing.assert_array_equal(out, [2.5, NAN, NAN, NAN, NAN, NAN, 2.0])


def test_sum_with_missing_is_missing() -> None:
    out = _derive("sum", [1.0, NAN, 2.0], [2.0, 1.0, NAN], [3.0, 1.0, 1.0])
    np.testing.assert_array_equal(out, [6.0, NAN, NAN])


def test_log1p() -> None:
    out = _derive("log1p", [0.0, math.e - 1.0, 1e6, NAN, -0.0])
    np.testing.assert_allclose(out[[0, 1, 4]], [0.0, 1.0, 0.0], rtol=0, atol=1e-15)
    assert out[2] == np.log(1e6 + 1.0)
    assert np.isnan(out[3])


def test_sqrt() -> None:
    out = _derive("sqrt", [0.0, -0.0, 4.0, 2.0, 1e308, -1.0, NAN, math.inf])
    np.testing.assert_array_equal(out[:5], [0.0, -0.0, 2.0, math.sqrt(2.0), math.sqrt(1e308)])
    assert np.isnan(out[5:7]).all()
    assert out[7] == math.inf


def test_positive_flag() -> None:
    out = _derive("positive", [0.0, -0.0, 1e-300, 5e-324, 3.0, -1.0, NAN])
    np.testing.assert_array_equal(out, [0.0, 0.0, 1.0, 1.0, 1.0, 0.0, NAN])


def test_feature_deriver_uses_columns_when_names_are_absent() -> None:
    deriver = FeatureDeriver(
        features=[{"name": "r", "kind": "ratio", "inputs": ["b", "a"]}], columns=["a", "b"]
    ).fit(np.array([[2.0, 6.0]]))
    np.testing.assert_array_equal(deriver.transform(np.array([[2.0, 6.0]])), [[2.0, 6.0, 3.0]])


def test_feature_deriver_rejects_unknown_input() -> None:
    deriver = FeatureDeriver(features=[{"name": "r", "kind": "log1p", "inputs": ["zz"]}])
    with pytest.raises(ValueError, match="zz"):
        deriver.fit(pd.DataFrame({"a": [1.0]}))


def test_huge_values_overflow_quietly_to_inf() -> None:
    """1e308 + 1e308 and float32(1e308) are inf, as in the graph; no warning on the way."""
    frame = pd.DataFrame({"a": [1e308, 1.0], "b": [1e308, 2.0]})
    deriver = FeatureDeriver(features=[{"name": "s", "kind": "sum", "inputs": ["a", "b"]}])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        total = deriver.fit(frame).transform(frame)[:, -1]
        cast = Float32Cast().fit(frame).transform(frame)
    np.testing.assert_array_equal(total, [math.inf, 3.0])
    np.testing.assert_array_equal(cast[:, 0], np.array([math.inf, 1.0], dtype=np.float32))
    assert cast.dtype == np.float32


def test_alias_chains_are_refused_so_labels_never_share_a_spelling() -> None:
    # {"a": "b", "b": "c"}: text "b" would be label "c" and also spell label "b".
    frame = pd.DataFrame({"c": ["a", "b", "c", "A "]})
    with pytest.raises(ValueError, match="would match two categories"):
        CategoryEncoder(aliases={"c": {"a": "b", "b": "c"}}).fit(frame)


def test_declaration_refuses_alias_chains(tmp_path: Path) -> None:
    path = tmp_path / "chain.toml"
    path.write_text(
        '[dataset]\nname = "t"\ntarget = "y"\n'
        '[[columns]]\nname = "c"\nkind = "categorical"\naliases = { a = "b", b = "c" }\n'
    )
    with pytest.raises(DeclarationError, match=r"chain\.toml: columns\[0\]\.aliases"):
        load_declaration(path)
