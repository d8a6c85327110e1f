"""The graph under construction: nodes, initializers and unique tensor names.

It also offers skl2onnx's scope/container methods that tabship's own step converters call
(export/converters/), so those run unchanged inside a user's pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

NAN = float("nan")


@dataclass(frozen=True)
class Col:
    """One [N, 1] tensor: float64 numbers, or text ("" is missing)."""

    name: str
    text: bool = False


class Graph:
    def __init__(self, reserved: set[str]) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._used = set(reserved)  # the user's column names and the outputs stay theirs
        self._count = 0

    def name(self, hint: str) -> str:
        while True:
            self._count += 1
            candidate = f"s{self._count}_{hint}"
            if candidate not in self._used:
                self._used.add(candidate)
                return candidate

    def const(self, values: Any, dtype: Any = np.float64, hint: str = "c") -> str:
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(values, dtype=dtype), name))
        return name

    def op(
        self,
        op_type: str,
        inputs: Sequence[str],
        output: str | None = None,
        domain: str = "",
        **attrs: Any,
    ) -> str:
        output = output or self.name(op_type.lower())
        self.nodes.append(
            helper.make_node(
                op_type, list(inputs), [output], name=self.name(op_type), domain=domain, **attrs
            )
        )
        return output

    # -- matrices of columns -------------------------------------------------------------------

    def matrix(self, cols: Sequence[Col]) -> str:
        return cols[0].name if len(cols) == 1 else self.op("Concat", [c.name for c in cols], axis=1)

    def split(self, matrix: str, width: int, text: bool = False) -> list[Col]:
        if width == 1:
            return [Col(self.op("Identity", [matrix]), text)]
        outputs = [self.name("part") for _ in range(width)]
        self.nodes.append(
            helper.make_node(
                "Split",
                [matrix, self.const([1] * width, np.int64, "widths")],
                outputs,
                name=self.name("Split"),
                axis=1,
            )
        )
        return [Col(o, text) for o in outputs]

    def missing(self, col: Col) -> str:
        """bool [N, 1]: the cell is missing (NaN, or "" for text)."""
        if col.text:
            return self.op("Equal", [col.name, self.const([[""]], object, "blank")])
        return self.op("IsNaN", [col.name])

    def to_double(self, condition: str) -> str:
        return self.op("Cast", [condition], to=TensorProto.DOUBLE)

    # -- skl2onnx's scope and container, for export/converters/ ---------------------------------

    def get_unique_variable_name(self, hint: str) -> str:
        return self.name(hint)

    def get_unique_operator_name(self, hint: str) -> str:
        return self.name(hint)

    def add_initializer(self, name: str, onnx_type: int, shape: list[int], values: Any) -> None:
        self.initializers.append(helper.make_tensor(name, onnx_type, shape, values))

    def add_node(
        self,
        op_type: str,
        inputs: Sequence[str],
        outputs: Sequence[str],
        op_domain: str = "",
        name: str | None = None,
        **attrs: Any,
    ) -> None:
        self.nodes.append(
            helper.make_node(
                op_type,
                list(inputs),
                list(outputs),
                name=name or self.name(op_type),
                domain=op_domain,
                **attrs,
            )
        )


def value_info(name: str, text: bool, width: int | None = 1) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(
        name, TensorProto.STRING if text else TensorProto.DOUBLE, [None, width]
    )
