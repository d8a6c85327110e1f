"""ONNX for training.contract.CategoryEncoder and CategoryNumber.

Spelling is recognised with RegexFullMatch (opset 20) running the very pattern strings the
transformer used in Python (contract/spelling.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import TensorProto
from skl2onnx.common.data_types import DoubleTensorType, StringTensorType
from skl2onnx.common.utils import check_input_and_output_numbers, check_input_and_output_types

from contract import spelling
from export.converters._builder import GraphBuilder


def _check(operator: Any) -> tuple[Any, Any]:
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    check_input_and_output_types(operator, good_input_types=[StringTensorType])
    return operator.raw_operator, operator.inputs[0].get_first_dimension()


def shape_category_encoder(operator: Any) -> None:
    encoder, rows = _check(operator)
    width = sum(len(labels) + 2 for labels in encoder.categories_)
    operator.outputs[0].type = DoubleTensorType([rows, width])


def shape_category_number(operator: Any) -> None:
    numberer, rows = _check(operator)
    operator.outputs[0].type = DoubleTensorType([rows, numberer.n_features_in_])


def _integer_code_indicators(g: GraphBuilder, column: str, labels: list[str]) -> str:
    """[N, k] 0/1 for integer-coded labels: one regex admits well-formed codes (what every
    label's pattern accepts), which are then parsed and compared as numbers in one Equal.
    Anything else becomes -1 first, a code no label has, so the parse never sees bad text."""
    valid = g.op("RegexFullMatch", [column], pattern=spelling.INTEGER_CODE_PATTERN)
    safe = g.op("Where", [valid, column, g.const([["-1"]], object, "not_a_code")])
    code = g.op("Cast", [safe], to=TensorProto.DOUBLE)
    numbers = g.const([[float(label) for label in labels]], hint="codes")
    return g.op("Cast", [g.op("Equal", [code, numbers])], to=TensorProto.DOUBLE)


def convert_category_encoder(scope: Any, operator: Any, container: Any) -> None:
    """Per column: one RegexFullMatch per label, concatenated and cast to 0/1 in one go.

    The labels' patterns never overlap (the transformer refuses alias chains at fit), so a
    row's indicators sum to 1 when it is known and to 0 otherwise; unknown and missing follow
    by exact 0/1 arithmetic. About k + 8 nodes per column with k labels.
    """
    encoder = operator.raw_operator
    g = GraphBuilder(scope, container, "categories")
    x = operator.inputs[0].full_name
    one = g.const([[1.0]], hint="one")
    blocks = []
    for index, patterns in enumerate(encoder.patterns_):
        column = g.column(x, index)
        missing = g.op(
            "Cast",
            [g.op("RegexFullMatch", [column], pattern=spelling.MISSING_PATTERN)],
            to=TensorProto.DOUBLE,
        )
        labels = encoder.categories_[index]
        integer_codes = encoder.rules_[index][1]
        if patterns and integer_codes:
            indicators = _integer_code_indicators(g, column, labels)
        elif patterns:
            matches = [g.op("RegexFullMatch", [column], pattern=p) for p in patterns]
            hits = g.op("Concat", matches, axis=1) if len(matches) > 1 else matches[0]
            indicators = g.op("Cast", [hits], to=TensorProto.DOUBLE)
        if patterns:
            known = g.op("ReduceSum", [indicators, g.const([1], np.int64, "axis")], keepdims=1)
            unknown = g.op("Sub", [g.op("Sub", [one, known]), missing])
            blocks += [indicators, unknown, missing]
        else:
            blocks += [g.op("Sub", [one, missing]), missing]
    g.op("Concat", blocks, output=operator.outputs[0].full_name, axis=1)


def convert_category_number(scope: Any, operator: Any, container: Any) -> None:
    numberer = operator.raw_operator
    g = GraphBuilder(scope, container, "category_number")
    x = operator.inputs[0].full_name
    outputs = []
    for index, (patterns, numbers) in enumerate(
        zip(numberer.patterns_, numberer.numbers_, strict=True)
    ):
        column = g.column(x, index)
        # A [N, 1] column of NaN: what is left where no label matches.
        rows = g.op("RegexFullMatch", [column], pattern=spelling.MISSING_PATTERN)
        value = g.nan_where(rows, g.const(float("nan")))
        # Applied from the last label to the first, so the first match has the final word.
        for pattern, number in reversed(list(zip(patterns, numbers, strict=True))):
            match = g.op("RegexFullMatch", [column], pattern=pattern)
            value = g.op("Where", [match, g.const(float(number)), value])
        outputs.append(value)
    g.op("Concat", outputs, output=operator.outputs[0].full_name, axis=1)
