"""ONNX for training.contract.NumericCleaner: impossible values -> NaN, in float64."""

from __future__ import annotations

from typing import Any

import numpy as np
from skl2onnx.common.data_types import DoubleTensorType
from skl2onnx.common.utils import check_input_and_output_numbers, check_input_and_output_types

from tabship.export.converters._builder import GraphBuilder

_LARGEST = np.finfo(np.float64).max


def shape_numeric_cleaner(operator: Any) -> None:
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    check_input_and_output_types(operator, good_input_types=[DoubleTensorType])
    rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = DoubleTensorType([rows, operator.raw_operator.n_features_in_])


def convert_numeric_cleaner(scope: Any, operator: Any, container: Any) -> None:
    cleaner = operator.raw_operator
    g = GraphBuilder(scope, container, "clean")
    x = operator.inputs[0].full_name
    lower = np.where(cleaner.lower_ == -np.inf, -_LARGEST, cleaner.lower_)
    upper = np.where(cleaner.upper_ == np.inf, _LARGEST, cleaner.upper_)
    if np.all(np.isfinite(lower)) and np.all(np.isfinite(upper)):
        # isinf(x) | x < lower | x > upper, in two comparisons: with every bound finite (an
        # absent one at +-DBL_MAX, which no finite x passes) -inf fails Less, +inf Greater.
        below = g.op("Less", [x, g.const(lower, hint="lower")])
        above = g.op("Greater", [x, g.const(upper, hint="upper")])
        impossible = g.op("Or", [below, above])
    else:  # a NaN or reversed infinite bound: the transformer's own three tests
        below = g.op("Less", [x, g.const(cleaner.lower_, hint="lower")])
        above = g.op("Greater", [x, g.const(cleaner.upper_, hint="upper")])
        impossible = g.op("Or", [g.op("IsInf", [x]), g.op("Or", [below, above])])
    g.op("Where", [impossible, g.const(float("nan")), x], output=operator.outputs[0].full_name)
