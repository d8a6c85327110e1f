"""ONNX for training.contract.FeatureDeriver: the same float64 formulas, the same order."""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import TensorProto
from skl2onnx.common.data_types import DoubleTensorType
from skl2onnx.common.utils import check_input_and_output_numbers, check_input_and_output_types

from tabship.export.converters._builder import GraphBuilder


def shape_feature_deriver(operator: Any) -> None:
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    check_input_and_output_types(operator, good_input_types=[DoubleTensorType])
    deriver = operator.raw_operator
    rows = operator.inputs[0].get_first_dimension()
    width = deriver.n_features_in_ + len(deriver.plan_)
    operator.outputs[0].type = DoubleTensorType([rows, width])


def _derive(g: GraphBuilder, kind: str, columns: list[str]) -> str:
    if kind == "ratio":
        numerator, denominator = columns
        quotient = g.op("Div", [numerator, denominator])
        return g.nan_where(g.op("Equal", [denominator, g.const(0.0)]), quotient)
    if kind == "sum":
        total = columns[0]
        for column in columns[1:]:
            total = g.op("Add", [total, column])
        return total
    if kind == "sqrt":
        return g.op("Sqrt", [columns[0]])
    if kind == "log1p":
        return g.op("Log", [g.op("Add", [columns[0], g.const(1.0)])])
    if kind == "positive":
        (x,) = columns
        flag = g.op("Cast", [g.op("Greater", [x, g.const(0.0)])], to=TensorProto.DOUBLE)
        return g.nan_where(g.op("IsNaN", [x]), flag)
    raise ValueError(f"no ONNX form for feature kind {kind!r}")


def convert_feature_deriver(scope: Any, operator: Any, container: Any) -> None:
    deriver = operator.raw_operator
    g = GraphBuilder(scope, container, "derive")
    x = operator.inputs[0].full_name
    out = operator.outputs[0].full_name
    if not deriver.plan_:
        g.op("Identity", [x], output=out)
        return
    # One Split into every column instead of a Slice per column read: one node, not seven.
    width = deriver.n_features_in_
    columns = [g.name(f"column{i}") for i in range(width)]
    if width == 1:
        columns = [x]
    else:
        g.container.add_node(
            "Split",
            [x, g.const([1] * width, np.int64, "widths")],
            columns,
            name=g.scope.get_unique_operator_name("derive_Split"),
            axis=1,
        )
    derived = [_derive(g, kind, [columns[i] for i in idx]) for kind, idx in deriver.plan_]
    g.op("Concat", [x, *derived], output=out, axis=1)
