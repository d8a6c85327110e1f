"""A thin helper over skl2onnx's scope/container for writing converters as plain expressions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from onnx.helper import np_dtype_to_tensor_dtype

NAN = float("nan")


class GraphBuilder:
    def __init__(self, scope: Any, container: Any, prefix: str) -> None:
        self.scope = scope
        self.container = container
        self.prefix = prefix

    def name(self, hint: str) -> str:
        return str(self.scope.get_unique_variable_name(f"{self.prefix}_{hint}"))

    def const(self, values: Any, dtype: Any = np.float64, hint: str = "c") -> str:
        array = np.asarray(values, dtype=dtype)
        name = self.name(hint)
        self.container.add_initializer(
            name, np_dtype_to_tensor_dtype(array.dtype), list(array.shape), array.ravel().tolist()
        )
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
        self.container.add_node(
            op_type,
            list(inputs),
            [output],
            op_domain=domain,
            name=self.scope.get_unique_operator_name(f"{self.prefix}_{op_type}"),
            **attrs,
        )
        return output

    def column(self, x: str, index: int) -> str:
        """x[:, index:index+1], keeping two dimensions."""
        starts = self.const([index], np.int64, "start")
        ends = self.const([index + 1], np.int64, "end")
        axes = self.const([1], np.int64, "axis")
        return self.op("Slice", [x, starts, ends, axes])

    def nan_where(self, condition: str, x: str) -> str:
        return self.op("Where", [condition, self.const(NAN), x])
