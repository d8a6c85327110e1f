"""Why the contract offers sqrt rather than log1p: how often numpy and onnxruntime disagree.

Computes log and sqrt of 1,000,000 positive float64 values with numpy and with a one-node ONNX
graph on onnxruntime, and counts the values that differ (in float64, and after the float32 cast
that precedes the trees). sqrt is correctly rounded by IEEE 754 everywhere; log is not.

    .venv/bin/python bench/log_vs_sqrt.py
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper


def onnx_unary(op: str) -> ort.InferenceSession:
    x = helper.make_tensor_value_info("x", TensorProto.DOUBLE, [None])
    y = helper.make_tensor_value_info("y", TensorProto.DOUBLE, [None])
    graph = helper.make_graph([helper.make_node(op, ["x"], ["y"])], op, [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def main() -> None:
    values = np.exp(np.random.default_rng(0).uniform(-5, 10, 1_000_000))
    print(f"{'op':<6}{'differ (float64)':>18}{'max ulps':>10}{'differ (float32)':>18}")
    for op, reference in (("Log", np.log), ("Sqrt", np.sqrt)):
        got = onnx_unary(op).run(None, {"x": values})[0]
        expected = reference(values)
        ulps = np.max(np.abs(got - expected) / np.spacing(expected))
        f32 = int(np.sum(got.astype(np.float32) != expected.astype(np.float32)))
        print(f"{op:<6}{int(np.sum(got != expected)):>18,}{ulps:>10.1f}{f32:>18,}")


if __name__ == "__main__":
    main()
