"""ONNX for training.contract.CategoryEncoder and CategoryNumber.

Spelling is recognised with RegexFullMatch (opset 20) running the very pattern strings the
transformer used in Python (training/contract/text.py); the first matching label wins, as in
Python.
"""

from __future__ import annotations

from typing import Any

from onnx import TensorProto
from skl2onnx.common.data_types import DoubleTensorType, StringTensorType
from skl2onnx.common.utils import check_input_and_output_numbers, check_input_and_output_types

from export.converters._builder import GraphBuilder
from training.contract import text


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


def _first_matches(g: GraphBuilder, x: str, patterns: list[str]) -> tuple[list[str], str]:
    """Per label, a [N, 1] bool 'this is the first label that matches'; and 'any matched'."""
    firsts: list[str] = []
    taken: str | None = None
    for pattern in patterns:
        match = g.op("RegexFullMatch", [x], pattern=pattern)
        if taken is None:
            firsts.append(match)
            taken = match
        else:
            firsts.append(g.op("And", [match, g.op("Not", [taken])]))
            taken = g.op("Or", [taken, match])
    if taken is None:  # no labels learned: nothing is known
        blank = g.op("RegexFullMatch", [x], pattern=text.MISSING_PATTERN)
        taken = g.op("And", [blank, g.op("Not", [blank])])
    return firsts, taken


def convert_category_encoder(scope: Any, operator: Any, container: Any) -> None:
    encoder = operator.raw_operator
    g = GraphBuilder(scope, container, "categories")
    x = operator.inputs[0].full_name
    blocks = []
    for index, patterns in enumerate(encoder.patterns_):
        column = g.column(x, index)
        firsts, known = _first_matches(g, column, patterns)
        blank = g.op("RegexFullMatch", [column], pattern=text.MISSING_PATTERN)
        not_known = g.op("Not", [known])
        missing = g.op("And", [blank, not_known])
        unknown = g.op("And", [g.op("Not", [blank]), not_known])
        blocks += [
            g.op("Cast", [flag], to=TensorProto.DOUBLE) for flag in [*firsts, unknown, missing]
        ]
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
        rows = g.op("RegexFullMatch", [column], pattern=text.MISSING_PATTERN)
        value = g.nan_where(rows, g.const(float("nan")))
        # Applied from the last label to the first, so the first match has the final word.
        for pattern, number in reversed(list(zip(patterns, numbers, strict=True))):
            match = g.op("RegexFullMatch", [column], pattern=pattern)
            value = g.op("Where", [match, g.const(float(number)), value])
        outputs.append(value)
    g.op("Concat", outputs, output=operator.outputs[0].full_name, axis=1)
