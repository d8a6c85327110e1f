"""The one place where tabship's converters and XGBoost's are registered with skl2onnx."""

from __future__ import annotations

from typing import Any

from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
from skl2onnx import update_registered_converter
from skl2onnx.common.data_types import FloatTensorType
from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
from xgboost import XGBClassifier

from tabship.export.converters.cast import convert_float32_cast, shape_float32_cast
from tabship.export.converters.categories import (
    convert_category_encoder,
    convert_category_number,
    shape_category_encoder,
    shape_category_number,
)
from tabship.export.converters.feature_deriver import convert_feature_deriver, shape_feature_deriver
from tabship.export.converters.numeric_cleaner import convert_numeric_cleaner, shape_numeric_cleaner
from tabship.training.contract import (
    CategoryEncoder,
    CategoryNumber,
    FeatureDeriver,
    Float32Cast,
    NumericCleaner,
)

_REGISTERED = False


def shape_xgboost_classifier(operator: Any) -> None:
    """skl2onnx's classifier shapes, with probabilities as float32: the tree ensemble computes
    in float32 whatever the pipeline's input type, and declaring double fails the checker."""
    calculate_linear_classifier_output_shapes(operator)
    rows = operator.inputs[0].get_first_dimension()
    # one column per class: 2 for a binary target, K for multi:softprob
    operator.outputs[1].type = FloatTensorType([rows, len(operator.raw_operator.classes_)])


def register_all() -> None:
    """Idempotent: safe to call before every conversion."""
    global _REGISTERED
    if _REGISTERED:
        return
    for model, alias, shape, convert in [
        (NumericCleaner, "TabshipNumericCleaner", shape_numeric_cleaner, convert_numeric_cleaner),
        (FeatureDeriver, "TabshipFeatureDeriver", shape_feature_deriver, convert_feature_deriver),
        (
            CategoryEncoder,
            "TabshipCategoryEncoder",
            shape_category_encoder,
            convert_category_encoder,
        ),
        (CategoryNumber, "TabshipCategoryNumber", shape_category_number, convert_category_number),
        (Float32Cast, "TabshipFloat32Cast", shape_float32_cast, convert_float32_cast),
    ]:
        update_registered_converter(model, alias, shape, convert)
    update_registered_converter(
        XGBClassifier,
        "XGBoostXGBClassifier",
        shape_xgboost_classifier,
        convert_xgboost,
        options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
    )
    _REGISTERED = True
