"""Each ONNX converter against its scikit-learn transformer, alone, on hostile inputs.

Every transformer is wrapped in a ColumnTransformer (or a one-step Pipeline) fed the way the
exported graph is: one [N, 1] input per column, float64 for numbers, text for categories (raw
values turned into feeds by tabship/contract/values.py). Results must agree to 1e-12 in float64
(non-finite values exactly, NaN where NaN).
"""

from __future__ import annotations

import math
import string
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import DoubleTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from xgboost import XGBClassifier

from tabship.contract.values import category_text, number_value
from tabship.export.convert import OPSETS
from tabship.export.converters import register_all
from tabship.training.contract import (
    CategoryEncoder,
    CategoryNumber,
    FeatureDeriver,
    Float32Cast,
    NumericCleaner,
)

TOLERANCE = 1e-12
NAN = math.nan
INF = math.inf
HOSTILE_NUMBERS: list[Any] = [
    NAN, None, INF, -INF, 1e308, -1e308, 1.7976931348623157e308, -1.7976931348623157e308, -0.0, 0.0, 5e-324, -5e-324,
    -1.0, -1e-300, 1.0, 0.5, 1.0000000000000002, 0.9999999999999999, 3.0, 1e-10, 123456.789,
    "12", " 3.5 ", "1e2", "abc", "", "nan", "-inf",
]  # fmt: skip
HOSTILE_TEXT: list[Any] = [
    None, NAN, "", " ", "\t\n", "  \r\f\v ",
    "a", "A", " a ", "B", "b\t", "c", "Ab", "aa", "a b", "a.b", "a*", "(", "[a]", "\\", "^a$",
    "returning visitor", "Returning Visitor", " RETURNING-VISITOR ", "returning_visitor",
    "new visitor", "NEW_VISITOR", "returning", "visitor",
    "__unknown__", "__missing__", "é", "É", "ﬃ", "日本", "K", "\u212a", "\u00a0a\u00a0",
    "2", 2, 2.0, "02", " 2.0 ", "2.", "+2", "002.000", "2.5", "-2", "20", "1e1", "٢", "²",
    "3", 3.0, "0", "00", "0.0", "10", "010", 10.0, 1e20, -0.0, True, False, "true", "x" * 300,
]  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def _registered() -> None:
    register_all()


def _session(model: Any, initial_types: list[tuple[str, Any]]) -> ort.InferenceSession:
    onnx_model = convert_sklearn(model, initial_types=initial_types, target_opset=dict(OPSETS))
    return ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])


def _numeric_feeds(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        c: np.array([number_value(v) for v in frame[c]], dtype=np.float64).reshape(-1, 1)
        for c in frame.columns
    }


def _text_feeds(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        c: np.array([category_text(v) for v in frame[c]], dtype=object).reshape(-1, 1)
        for c in frame.columns
    }


def assert_agree(onnx_out: np.ndarray, expected: np.ndarray) -> None:
    assert onnx_out.shape == expected.shape
    assert onnx_out.dtype == expected.dtype
    np.testing.assert_array_equal(np.isnan(onnx_out), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(onnx_out), np.isinf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(
        onnx_out[~finite & ~np.isnan(expected)], expected[~finite & ~np.isnan(expected)]
    )
    # within 1e-12 absolutely AND relatively: a converter whose arithmetic differs (say
    # log1p(x) against log(1 + x)) shows up on small values, not only on large ones.
    np.testing.assert_allclose(onnx_out[finite], expected[finite], rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(onnx_out[finite], expected[finite], rtol=TOLERANCE, atol=0)


# ------------------------------------------------------------------------------------------
# NumericCleaner
# ------------------------------------------------------------------------------------------

NUMERIC_BOUNDS = {
    "free": (None, None),
    "positive": (0.0, None),
    "rate": (0.0, 1.0),
    "cap": (None, 3.0),
}


@pytest.fixture(scope="module")
def cleaner() -> tuple[ColumnTransformer, ort.InferenceSession]:
    columns = list(NUMERIC_BOUNDS)
    train = pd.DataFrame({c: [0.0, 1.0, 2.0] for c in columns})
    model = ColumnTransformer(
        [("n", NumericCleaner(bounds=NUMERIC_BOUNDS), columns)], sparse_threshold=0.0
    ).fit(train)
    return model, _session(model, [(c, DoubleTensorType([None, 1])) for c in columns])


def _check_cleaner(
    cleaner: tuple[ColumnTransformer, ort.InferenceSession], values: list[Any]
) -> None:
    model, session = cleaner
    frame = pd.DataFrame({c: pd.Series(values, dtype=object) for c in NUMERIC_BOUNDS})
    feeds = _numeric_feeds(frame)
    (got,) = session.run(None, feeds)
    expected = model.transform(frame)
    assert_agree(got, expected)
    # the same result from the float64 feed the server sends
    assert_agree(got, model.transform(pd.DataFrame({c: f[:, 0] for c, f in feeds.items()})))
    np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))  # -0.0 stays -0.0


def test_numeric_cleaner_hostile(cleaner: tuple[ColumnTransformer, ort.InferenceSession]) -> None:
    _check_cleaner(cleaner, HOSTILE_NUMBERS)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=40))
def test_numeric_cleaner_generated(
    cleaner: tuple[ColumnTransformer, ort.InferenceSession], values: list[float]
) -> None:
    _check_cleaner(cleaner, values)


# ------------------------------------------------------------------------------------------
# FeatureDeriver
# ------------------------------------------------------------------------------------------

DERIVER_COLUMNS = ["a", "b", "c"]
FEATURES = [
    {"name": "a_per_b", "kind": "ratio", "inputs": ["a", "b"]},
    {"name": "c_per_a", "kind": "ratio", "inputs": ["c", "a"]},
    {"name": "total", "kind": "sum", "inputs": ["a", "b", "c"]},
    {"name": "pair", "kind": "sum", "inputs": ["c", "a"]},
    {"name": "log_a", "kind": "log1p", "inputs": ["a"]},
    {"name": "log_c", "kind": "log1p", "inputs": ["c"]},
    {"name": "sqrt_b", "kind": "sqrt", "inputs": ["b"]},
    {"name": "sqrt_c", "kind": "sqrt", "inputs": ["c"]},
    {"name": "b_positive", "kind": "positive", "inputs": ["b"]},
]


@pytest.fixture(scope="module")
def deriver() -> tuple[Pipeline, ort.InferenceSession]:
    train = pd.DataFrame({c: [0.0, 1.0, 2.0] for c in DERIVER_COLUMNS})
    model = Pipeline(
        [
            (
                "columns",
                ColumnTransformer(
                    [
                        (
                            "d",
                            FeatureDeriver(features=FEATURES, columns=DERIVER_COLUMNS),
                            DERIVER_COLUMNS,
                        )
                    ],
                    sparse_threshold=0.0,
                ),
            )
        ]
    ).fit(train)
    return model, _session(model, [(c, DoubleTensorType([None, 1])) for c in DERIVER_COLUMNS])


def _check_deriver(deriver: tuple[Pipeline, ort.InferenceSession], rows: np.ndarray) -> None:
    model, session = deriver
    frame = pd.DataFrame(rows, columns=DERIVER_COLUMNS, dtype=np.float64)
    (got,) = session.run(None, _numeric_feeds(frame))
    assert_agree(got, model.transform(frame))


def test_feature_deriver_hostile(deriver: tuple[Pipeline, ort.InferenceSession]) -> None:
    numbers = [number_value(v) for v in HOSTILE_NUMBERS]
    # every pair of hostile values in (a, b), with c cycling: zero denominators, inf/inf,
    # 1e308 + 1e308, log(1 + -1) = -inf, log of a negative, -0.0 flags ...
    rows = np.array(
        [
            [a, b, numbers[(i + j) % len(numbers)]]
            for i, a in enumerate(numbers)
            for j, b in enumerate(numbers)
        ]
    )
    _check_deriver(deriver, rows)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(*[st.floats(allow_nan=True, allow_infinity=True)] * 3), min_size=1, max_size=30
    )
)
def test_feature_deriver_generated(
    deriver: tuple[Pipeline, ort.InferenceSession], rows: list[tuple[float, float, float]]
) -> None:
    _check_deriver(deriver, np.array(rows, dtype=np.float64))


# ------------------------------------------------------------------------------------------
# CategoryEncoder and CategoryNumber
# ------------------------------------------------------------------------------------------

TEXT_COLUMNS = ["plain", "visitor", "code"]
TEXT_TRAIN = pd.DataFrame(
    {
        "plain": ["a", "B", " c ", "a.b", "(", "é", "x" * 300, None, "Ab"],
        "visitor": [
            "Returning_Visitor",
            "returning visitor",
            "New_Visitor",
            "new visitor",
            "Other",
            "",
            None,
            "other",
            "OTHER",
        ],
        "code": [2, "2.0", "3", 3.0, "10", "0", " 02 ", None, 1],
    },
    dtype=object,
)
TEXT_ALIASES = {
    "visitor": {
        "returning visitor": "returning_visitor",
        "returning-visitor": "returning_visitor",
        "new visitor": "new_visitor",
    },
    "plain": {"aa": "a", "[a]": "a"},
}


@pytest.fixture(scope="module")
def encoder() -> tuple[ColumnTransformer, ort.InferenceSession]:
    model = ColumnTransformer(
        [("c", CategoryEncoder(aliases=TEXT_ALIASES, integer_codes=["code"]), TEXT_COLUMNS)],
        sparse_threshold=0.0,
    ).fit(TEXT_TRAIN)
    return model, _session(model, [(c, StringTensorType([None, 1])) for c in TEXT_COLUMNS])


@pytest.fixture(scope="module")
def numberer() -> tuple[ColumnTransformer, ort.InferenceSession]:
    model = ColumnTransformer(
        [
            (
                "n",
                CategoryNumber(
                    mapping={"a": 1.5, "b": -2.0, "aa": 3.0, "(": 4.0, "é": 1e300, "x": 0.0},
                    aliases={"plain": {"[a]": "a", "bee": "b"}},
                ),
                ["plain"],
            ),
            ("codes", CategoryNumber(integer_codes=["code"]), ["code"]),
            ("learned", CategoryNumber(aliases={"visitor": TEXT_ALIASES["visitor"]}), ["visitor"]),
        ],
        sparse_threshold=0.0,
    ).fit(TEXT_TRAIN)
    return model, _session(model, [(c, StringTensorType([None, 1])) for c in TEXT_COLUMNS])


def _check_text(
    model_session: tuple[ColumnTransformer, ort.InferenceSession], values: list[Any]
) -> None:
    model, session = model_session
    frame = pd.DataFrame({c: pd.Series(values, dtype=object) for c in TEXT_COLUMNS})
    (got,) = session.run(None, _text_feeds(frame))
    assert_agree(got, model.transform(frame))


def test_category_encoder_hostile(encoder: tuple[ColumnTransformer, ort.InferenceSession]) -> None:
    _check_text(encoder, HOSTILE_TEXT)
    model, _ = encoder
    out = model.transform(pd.DataFrame({c: HOSTILE_TEXT for c in TEXT_COLUMNS}, dtype=object))
    assert out.sum() == len(HOSTILE_TEXT) * len(TEXT_COLUMNS)  # one indicator per column


def test_category_number_hostile(numberer: tuple[ColumnTransformer, ort.InferenceSession]) -> None:
    _check_text(numberer, HOSTILE_TEXT)


TEXT = st.one_of(
    st.text(alphabet=string.printable, max_size=12),
    st.text(max_size=8),
    st.sampled_from(HOSTILE_TEXT),
    st.builds(
        lambda v, pad: f"{pad}{v}{pad[::-1]}",
        st.sampled_from(["a", "b", "2", "Other", "new visitor"]),
        st.text(alphabet=" \t\r\n\f\v", max_size=3),
    ),
    st.integers(min_value=-5, max_value=30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(TEXT, min_size=1, max_size=30))
def test_category_encoder_generated(
    encoder: tuple[ColumnTransformer, ort.InferenceSession], values: list[Any]
) -> None:
    _check_text(encoder, values)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(TEXT, min_size=1, max_size=30))
def test_category_number_generated(
    numberer: tuple[ColumnTransformer, ort.InferenceSession], values: list[Any]
) -> None:
    _check_text(numberer, values)


# ------------------------------------------------------------------------------------------
# Float32Cast, and XGBoost behind it
# ------------------------------------------------------------------------------------------

FLOAT32_EDGES = [
    NAN, INF, -INF, 1e308, -1e308, -0.0, 0.0, 5e-324, -5e-324, 1e-46, 1.4e-45, 3.4028234663852886e38,
    3.4028235677973366e38, 3.5e38, 16777217.0, 0.1, 1.0000000596046448, 1.0000000894069672, -2.5,
]  # fmt: skip


@pytest.fixture(scope="module")
def caster() -> tuple[Pipeline, ort.InferenceSession]:
    model = Pipeline([("cast", Float32Cast())]).fit(np.zeros((2, 3)))
    return model, _session(model, [("x", DoubleTensorType([None, 3]))])


def _check_cast(caster: tuple[Pipeline, ort.InferenceSession], values: np.ndarray) -> None:
    model, session = caster
    (got,) = session.run(None, {"x": values})
    expected = model.transform(values)
    assert got.dtype == expected.dtype == np.float32
    # exactly the same float32, bit for bit (NaN aside)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))


def test_float32_cast_hostile(caster: tuple[Pipeline, ort.InferenceSession]) -> None:
    edges = np.array(FLOAT32_EDGES, dtype=np.float64)
    _check_cast(caster, np.column_stack([edges, edges[::-1], -edges]))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(*[st.floats(allow_nan=True, allow_infinity=True)] * 3), min_size=1, max_size=30
    )
)
def test_float32_cast_generated(
    caster: tuple[Pipeline, ort.InferenceSession], rows: list[tuple[float, float, float]]
) -> None:
    _check_cast(caster, np.array(rows, dtype=np.float64))


def test_xgboost_behind_the_cast() -> None:
    """The registered XGBoost converter: float32 trees, plain tensors, NaN as missing, rows on
    split thresholds and one float32 ulp either side."""
    rng = np.random.default_rng(7)
    x = np.round(rng.normal(size=(400, 3)), 2)
    x[rng.random(x.shape) < 0.1] = NAN
    y = (
        (np.nan_to_num(x[:, 0]) + np.nan_to_num(x[:, 1]) * 0.5 + rng.normal(0, 0.5, 400)) > 0
    ).astype(int)
    model = Pipeline(
        [
            ("cast", Float32Cast()),
            ("model", XGBClassifier(n_estimators=15, max_depth=3, tree_method="hist", n_jobs=1)),
        ]
    ).fit(x, y)
    onnx_model = convert_sklearn(
        model,
        initial_types=[("x", DoubleTensorType([None, 3]))],
        target_opset=dict(OPSETS),
        options={XGBClassifier: {"zipmap": False}},
    )
    session = ort.InferenceSession(
        onnx_model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    assert [o.name for o in session.get_outputs()] == ["label", "probabilities"]
    edges = np.array(FLOAT32_EDGES)
    on_data = x[:50].astype(np.float32)
    probes = np.vstack(
        [
            x,
            np.column_stack([edges, edges[::-1], -edges]),
            on_data.astype(np.float64),
            np.nextafter(on_data, np.float32(INF)).astype(np.float64),
            np.nextafter(on_data, np.float32(-INF)).astype(np.float64),
        ]
    )
    label, probabilities = session.run(None, {"x": probes})
    expected = model.predict_proba(probes)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(label, model.predict(probes))


def test_columns_with_nothing_learned() -> None:
    """A training column with only missing values: no labels, every value unknown or missing."""
    train = pd.DataFrame({"empty": [None, "", "  "], "codes": [None, NAN, ""]}, dtype=object)
    model = ColumnTransformer(
        [
            ("c", CategoryEncoder(integer_codes=["codes"]), ["empty", "codes"]),
            ("n", CategoryNumber(), ["empty"]),
        ],
        sparse_threshold=0.0,
    ).fit(train)
    session = _session(model, [(c, StringTensorType([None, 1])) for c in ["empty", "codes"]])
    rows = pd.DataFrame({"empty": HOSTILE_TEXT, "codes": HOSTILE_TEXT[::-1]}, dtype=object)
    (got,) = session.run(None, _text_feeds(rows))
    expected = model.transform(rows)
    assert expected.shape == (len(HOSTILE_TEXT), 2 + 2 + 1)
    assert_agree(got, expected)


def test_integer_codes_beyond_fifteen_digits_are_unknown_in_both() -> None:
    """The graph compares integer codes as float64, exact up to 15 digits; longer codes (and
    anything that is not a code) must land in the unknown bucket in the pipeline and the graph
    alike, and never reach the string-to-number cast unguarded."""
    register_all()
    train = pd.DataFrame({"code": ["1", "2", "2.0", " 02 ", "3"]})
    encoder = CategoryEncoder(integer_codes=["code"]).fit(train)
    probes = [
        "2",
        "0000000000000000000002",
        "+2.",
        "1234567890123456",
        "9" * 400,
        "2e0",
        "-2",
        "0x2",
        "",
        "  ",
        "２",
        "2 2",
        "NaN",
    ]
    expected = encoder.transform(pd.DataFrame({"code": probes}))
    model = convert_sklearn(
        encoder,
        initial_types=[("code", StringTensorType([None, 1]))],
        target_opset={"": 21, "ai.onnx.ml": 3},
    )
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {"code": np.array(probes, dtype=object).reshape(-1, 1)})[0]
    np.testing.assert_array_equal(got, expected)
    unknown = list(encoder.get_feature_names_out()).index("code=__unknown__")
    assert expected[3:8, unknown].tolist() == [1.0] * 5


# ------------------------------------------------------------------------------------------
# The lookup fast path (export/converters/lookup.py) and its fused guard (export/fuse.py)
# ------------------------------------------------------------------------------------------


def test_lookup_keys_admit_only_what_the_label_pattern_accepts() -> None:
    from tabship.contract import spelling
    from tabship.export.converters.lookup import lookup_keys

    aliases = {"returning visitor": "returning_visitor"}
    labels = ["new_visitor", "returning_visitor"]
    patterns = [spelling.label_pattern(label, aliases, False) for label in labels]
    keys = lookup_keys(labels, patterns, aliases, False)
    assert keys[""] == 2  # missing
    assert keys["Returning_Visitor"] == keys["returning visitor"] == keys["RETURNING VISITOR"] == 1
    assert keys["New_Visitor"] == 0
    assert " new_visitor" not in keys  # only exact spellings; padded text takes the exact path
    codes = ["2", "10"]
    code_patterns = [spelling.label_pattern(c, {}, True) for c in codes]
    assert lookup_keys(codes, code_patterns, {}, True) == {"": 2, "2": 0, "10": 1}


@pytest.mark.parametrize("fixture", ["encoder", "numberer"])
def test_category_lookup_one_row_at_a_time(fixture: str, request: pytest.FixtureRequest) -> None:
    """A one-row batch of a usual spelling takes the lookup branch, anything else the exact
    one: each hostile value alone must give what the transformer gives."""
    model_session = request.getfixturevalue(fixture)
    for value in HOSTILE_TEXT:
        _check_text(model_session, [value])
    model, session = model_session
    empty = {c: np.empty((0, 1), dtype=object) for c in TEXT_COLUMNS}
    (got,) = session.run(None, empty)
    assert got.shape == (0, model.transform(TEXT_TRAIN.head(1)).shape[1])


def test_fused_guard_matches_the_transformers() -> None:
    """Single-column branches as training/pipeline.py builds them, the guards fused into one
    If after conversion: row by row (lookup branch for usual spellings) and all rows at once
    (exact branch), the same values as scikit-learn."""
    from tabship.export.fuse import fuse_lookup_guards

    branches: list[tuple[str, Any, list[str]]] = [
        (
            f"c_{c}",
            CategoryEncoder(
                aliases={c: TEXT_ALIASES[c]} if c in TEXT_ALIASES else {},
                integer_codes=[c] if c == "code" else [],
            ),
            [c],
        )
        for c in TEXT_COLUMNS
    ]
    branches.append(("n_plain", CategoryNumber(mapping={"a": 1.5, "b": -2.0}), ["plain"]))
    model = ColumnTransformer(branches, sparse_threshold=0.0).fit(TEXT_TRAIN)
    onnx_model = convert_sklearn(
        model,
        initial_types=[(c, StringTensorType([None, 1])) for c in TEXT_COLUMNS],
        target_opset=dict(OPSETS),
    )
    assert fuse_lookup_guards(onnx_model) == len(branches)
    assert [n.op_type for n in onnx_model.graph.node].count("If") == 1
    session = ort.InferenceSession(
        onnx_model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    for index in range(len(TEXT_TRAIN)):  # training spellings, one row per batch
        row = TEXT_TRAIN.iloc[[index]]
        (got,) = session.run(None, _text_feeds(row))
        assert_agree(got, model.transform(row))
    for value in HOSTILE_TEXT:
        _check_text((model, session), [value])
    _check_text((model, session), HOSTILE_TEXT)
