"""ONNX for training.contract.Float32Cast: the one float64 -> float32 rounding, before the trees."""

from __future__ import annotations

from typing import Any

from onnx import TensorProto
from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
from skl2onnx.common.utils import check_input_and_output_numbers, check_input_and_output_types

from tabship.export.converters._builder import GraphBuilder


def shape_float32_cast(operator: Any) -> None:
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    check_input_and_output_types(operator, good_input_types=[DoubleTensorType, FloatTensorType])
    rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([rows, operator.raw_operator.n_features_in_])


def convert_float32_cast(scope: Any, operator: Any, container: Any) -> None:
    g = GraphBuilder(scope, container, "to_float32")
    g.op(
        "Cast",
        [operator.inputs[0].full_name],
        output=operator.outputs[0].full_name,
        to=TensorProto.FLOAT,
    )
