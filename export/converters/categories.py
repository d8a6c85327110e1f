"""ONNX for training.contract.CategoryEncoder and CategoryNumber.

Spelling is recognised with RegexFullMatch (opset 20) running the very pattern strings the
transformer used in Python (tabship/contract/spelling.py), behind a lookup fast path for the usual
spellings (export/converters/lookup.py).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from onnx import TensorProto
from skl2onnx.common.data_types import DoubleTensorType, StringTensorType
from skl2onnx.common.utils import check_input_and_output_numbers, check_input_and_output_types

from tabship.contract import spelling
from tabship.export.converters import lookup
from tabship.export.converters._builder import GraphBuilder


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


def _exact_encoder_block(
    g: GraphBuilder, column: str, patterns: list[str], labels: list[str], integer_codes: bool
) -> str:
    """One column's [N, k + 2] block by the labels' patterns (the exact path).

    The labels' patterns never overlap (the transformer refuses alias chains at fit), so a
    row's indicators sum to 1 when it is known and to 0 otherwise; unknown and missing follow
    by exact 0/1 arithmetic. About k + 8 nodes per column with k labels.
    """
    one = g.const([[1.0]], hint="one")
    missing = g.op(
        "Cast",
        [g.op("RegexFullMatch", [column], pattern=spelling.MISSING_PATTERN)],
        to=TensorProto.DOUBLE,
    )
    if not patterns:
        return g.op("Concat", [g.op("Sub", [one, missing]), missing], axis=1)
    if integer_codes:
        indicators = _integer_code_indicators(g, column, labels)
    else:
        matches = [g.op("RegexFullMatch", [column], pattern=p) for p in patterns]
        hits = g.op("Concat", matches, axis=1) if len(matches) > 1 else matches[0]
        indicators = g.op("Cast", [hits], to=TensorProto.DOUBLE)
    known = g.op("ReduceSum", [indicators, g.const([1], np.int64, "axis")], keepdims=1)
    unknown = g.op("Sub", [g.op("Sub", [one, known]), missing])
    return g.op("Concat", [indicators, unknown, missing], axis=1)


def _lookup_encoder_block(g: GraphBuilder, index: str, n_labels: int) -> str:
    """Indices from the lookup (labels 0..k-1, k for missing; never unknown) -> one-hot."""
    slots = g.const([[*range(n_labels), lookup.NOT_IN_TABLE, n_labels]], np.int64, "slots")
    return g.op("Cast", [g.op("Equal", [index, slots])], to=TensorProto.DOUBLE)


def _input_column(g: GraphBuilder, x: str, index: int, n_columns: int) -> str:
    return x if n_columns == 1 else g.column(x, index)


def convert_category_encoder(scope: Any, operator: Any, container: Any) -> None:
    """Per column: the lookup fast path, guarded, with the exact regex block as fallback."""
    encoder = operator.raw_operator
    g = GraphBuilder(scope, container, "categories")
    x = operator.inputs[0].full_name
    out = operator.outputs[0].full_name
    n_columns = len(encoder.patterns_)
    blocks = []
    for index, patterns in enumerate(encoder.patterns_):
        column = _input_column(g, x, index, n_columns)
        labels = encoder.categories_[index]
        aliases, integer_codes = encoder.rules_[index]
        keys = lookup.lookup_keys(labels, patterns, aliases, integer_codes)
        blocks.append(
            lookup.guarded(
                g,
                column,
                keys,
                partial(_lookup_encoder_block, n_labels=len(labels)),
                partial(
                    _exact_encoder_block,
                    patterns=patterns,
                    labels=labels,
                    integer_codes=integer_codes,
                ),
                len(labels) + 2,
                output=out if n_columns == 1 else None,
            )
        )
    if n_columns > 1:
        g.op("Concat", blocks, output=out, axis=1)


def _exact_number(g: GraphBuilder, column: str, patterns: list[str], numbers: Any) -> str:
    # A [N, 1] column of NaN: what is left where no label matches.
    rows = g.op("RegexFullMatch", [column], pattern=spelling.MISSING_PATTERN)
    value = g.nan_where(rows, g.const(float("nan")))
    # Applied from the last label to the first, so the first match has the final word.
    for pattern, number in reversed(list(zip(patterns, numbers, strict=True))):
        match = g.op("RegexFullMatch", [column], pattern=pattern)
        value = g.op("Where", [match, g.const(float(number)), value])
    return value


def _lookup_number(g: GraphBuilder, index: str, numbers: Any) -> str:
    """Label index -> its number; index k (missing) -> NaN."""
    table = g.const([*(float(n) for n in numbers), float("nan")], hint="numbers")
    return g.op("Gather", [table, index], axis=0)


def convert_category_number(scope: Any, operator: Any, container: Any) -> None:
    numberer = operator.raw_operator
    g = GraphBuilder(scope, container, "category_number")
    x = operator.inputs[0].full_name
    out = operator.outputs[0].full_name
    n_columns = len(numberer.patterns_)
    outputs = []
    for index, (patterns, numbers) in enumerate(
        zip(numberer.patterns_, numberer.numbers_, strict=True)
    ):
        column = _input_column(g, x, index, n_columns)
        aliases, integer_codes = numberer.rules_[index]
        keys = lookup.lookup_keys(numberer.categories_[index], patterns, aliases, integer_codes)
        outputs.append(
            lookup.guarded(
                g,
                column,
                keys,
                partial(_lookup_number, numbers=numbers),
                partial(_exact_number, patterns=patterns, numbers=numbers),
                1,
                output=out if n_columns == 1 else None,
            )
        )
    if n_columns > 1:
        g.op("Concat", outputs, output=out, axis=1)
