"""The category fast path: one exact-string lookup per column, guarded by an If.

Today's exact rule (tabship/contract/spelling.py: ASCII trim + ASCII case fold, aliases, integer codes)
runs as one RegexFullMatch per label. Nearly every real value is spelled one of a few ways
("Nov", "nov", "Returning_Visitor", "2"), so the graph first looks the raw text up in a table of
those spellings (one `ai.onnx.ml` LabelEncoder: string -> label index). Each key is admitted
only if the pipeline's own patterns send it to that very label (checked here with Python's
`re`), so a hit can never disagree with the regex path. When every row of the batch is a hit,
an If runs the cheap branch (one-hot by Equal, or a Gather of the label's number); otherwise
the other branch computes the cheap result for every row and the exact regex result for the
rows the table missed only (Compress), written over them (ScatterND). The contract's meaning
is untouched.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from tabship.contract import spelling
from tabship.export.converters._builder import GraphBuilder

NOT_IN_TABLE = -1  # the LabelEncoder's default: a spelling the table does not hold


def _variants(text: str) -> list[str]:
    return [text, text.lower(), text.upper(), text.title(), text.capitalize()]


def lookup_keys(
    labels: Sequence[str], patterns: Sequence[str], aliases: Mapping[str, str], integer: bool
) -> dict[str, int]:
    """{raw spelling: label index}, with "" -> len(labels) (missing). Only spellings the
    label's own pattern accepts, and no other label's, are admitted."""
    compiled = [re.compile(p) for p in patterns]
    missing = re.compile(spelling.MISSING_PATTERN)
    keys: dict[str, int] = {"": len(labels)}
    for index, label in enumerate(labels):
        written = [label] if integer else spelling.spellings(label, aliases)
        for candidate in (v for s in written for v in _variants(s)):
            if candidate in keys or "\x00" in candidate:
                continue
            if spelling.match_index(candidate, compiled, missing) == index:
                keys[candidate] = index
    return keys


class _SubgraphContainer:
    """What GraphBuilder needs of skl2onnx's container, collecting nodes for an If branch;
    constants live in the branch itself so no outer clean-up can drop them."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []

    def add_initializer(self, name: str, onnx_type: int, shape: list[int], values: Any) -> None:
        dtype = helper.tensor_dtype_to_np_dtype(onnx_type)
        if onnx_type == TensorProto.STRING:
            array = np.array(values, dtype=object).reshape(shape)
        else:
            array = np.array(values, dtype=dtype).reshape(shape)
        self.initializers.append(numpy_helper.from_array(array, name))

    def add_node(
        self,
        op_type: str,
        inputs: list[str],
        outputs: list[str],
        op_domain: str = "",
        name: str | None = None,
        **attrs: Any,
    ) -> None:
        self.nodes.append(
            helper.make_node(op_type, inputs, outputs, name=name, domain=op_domain, **attrs)
        )


def _branch(g: GraphBuilder, hint: str, build: Callable[[GraphBuilder], str], width: int) -> Any:
    container = _SubgraphContainer()
    inner = GraphBuilder(g.scope, container, f"{g.prefix}_{hint}")
    result = inner.op("Identity", [build(inner)], output=inner.name("out"))
    return helper.make_graph(
        container.nodes,
        inner.name("graph"),
        [],
        [helper.make_tensor_value_info(result, TensorProto.DOUBLE, [None, width])],
        container.initializers,
    )


def _patched(
    g: GraphBuilder,
    column: str,
    index: str,
    fast: Callable[[GraphBuilder, str], str],
    exact: Callable[[GraphBuilder, str], str],
) -> str:
    """fast() on every row (a miss reads as some slot: overwritten below), exact() on the
    missed rows only, scattered back over them."""
    missed = g.op(
        "Reshape",
        [
            g.op("Equal", [index, g.const(NOT_IN_TABLE, np.int64, "not_in_table")]),
            g.const([-1], np.int64, "flat"),
        ],
    )
    rows = g.op("Transpose", [g.op("NonZero", [missed])], perm=[1, 0])
    texts = g.op("Compress", [column, missed], axis=0)
    return g.op("ScatterND", [fast(g, index), rows, exact(g, texts)])


def guarded(
    g: GraphBuilder,
    column: str,
    keys: Mapping[str, int],
    fast: Callable[[GraphBuilder, str], str],
    exact: Callable[[GraphBuilder, str], str],
    width: int,
    output: str | None = None,
) -> str:
    """If every row's text is a key: fast(builder, index [N,1] int64); else the same with
    exact(builder, text [M,1]) written over the M rows that are not keys."""
    index = g.op(
        "LabelEncoder",
        [column],
        domain="ai.onnx.ml",
        keys_strings=list(keys),
        values_int64s=list(keys.values()),
        default_int64=NOT_IN_TABLE,
    )
    lowest = g.op("ReduceMin", [index], keepdims=0)
    hit = g.op("Greater", [lowest, g.const(NOT_IN_TABLE, np.int64, "not_in_table")])
    return g.op(
        "If",
        [hit],
        output=output,
        then_branch=_branch(g, "lookup", lambda inner: fast(inner, index), width),
        else_branch=_branch(
            g, "exact", lambda inner: _patched(inner, column, index, fast, exact), width
        ),
    )
