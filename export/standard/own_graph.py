"""A user's own reference pipeline (training/own/reference.py) -> one ONNX graph: typed raw
inputs named as the user's columns, the steps in float64, one Cast to float32 right where
XGBoost casts, the trees, and tabship's decision output."""

from __future__ import annotations

from typing import Any

import onnx
from onnx import TensorProto, helper

from tabship.contract.manifest import DECISION, LABEL, OUTPUT_NAMES, PROBABILITIES
from tabship.export.convert import (
    IR_VERSION,
    OPSETS,
    _add_decision,
    _add_multiclass_decision,
)
from tabship.export.fuse import fuse_lookup_guards
from tabship.export.standard.domains import derive_rules
from tabship.export.standard.graph import NAN, Col, Graph, value_info
from tabship.export.standard.refusal import StepRefused
from tabship.export.standard.trees import check_model, splice_trees
from tabship.export.standard.walk import convert_step, is_sparse_output
from tabship.training.own.reference import raw_columns, user_steps


def convert_own(
    reference: Any, threshold: float | None, classes: list[str] | None = None
) -> onnx.ModelProto:
    raw = raw_columns(reference)
    if raw is None:
        raise ValueError("not an own reference pipeline (training/own/reference.py)")
    model = reference.named_steps["model"]
    check_model(model, "model")
    steps = user_steps(reference)
    text = set(raw.categorical)
    inputs = [Col(name, name in text) for name in raw.columns]
    g = Graph({*raw.columns, *OUTPUT_NAMES})
    # infinite numbers are missing, as RawColumns reads them (the server refuses them anyway)
    read = [
        c if c.text else Col(g.op("Where", [g.op("IsInf", [c.name]), g.const(NAN), c.name]))
        for c in inputs
    ]
    cols = convert_step(g, steps, read, "")
    # what scikit-learn refuses must be refusable before the graph: else refused by step path
    derive_rules(steps, [(c.name, c.text) for c in inputs], None)
    if not cols:
        raise StepRefused("", steps, "no column reaches the model")
    if any(c.text for c in cols):
        raise StepRefused("model", model, "a text column reaches the trees: encode it first")
    width = len(cols)
    if width != int(model.n_features_in_):
        raise StepRefused(
            "model",
            model,
            f"the steps give {width} columns, the model was fitted on {model.n_features_in_}",
        )
    matrix = g.matrix(cols)
    if is_sparse_output(steps):
        # XGBoost reads a sparse matrix's unstored zeros as missing: so does the graph
        zero = g.op("Equal", [matrix, g.const(0.0)])
        matrix = g.op("Where", [zero, g.const(NAN), matrix])
    features = g.op("Cast", [matrix], to=TensorProto.FLOAT)
    splice_trees(g, model, features, width)
    graph = helper.make_graph(
        g.nodes,
        "tabship",
        [value_info(c.name, c.text) for c in inputs],
        [
            helper.make_tensor_value_info(LABEL, TensorProto.INT64, [None]),
            helper.make_tensor_value_info(PROBABILITIES, TensorProto.FLOAT, [None, None]),
        ],
        g.initializers,
    )
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(OPSETS.items())],
        ir_version=IR_VERSION,
    )
    fuse_lookup_guards(onnx_model)
    if classes:
        _add_multiclass_decision(onnx_model, classes)
    else:
        assert threshold is not None
        _add_decision(onnx_model, threshold)
    assert [o.name for o in onnx_model.graph.output][-1] == DECISION
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model
