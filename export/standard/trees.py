"""XGBClassifier's trees: converted alone by onnxmltools' converter (registered in
export/converters/registry.py) on a float32 input, then spliced after the graph's Cast."""

from __future__ import annotations

import copy as copying
import math
from typing import Any

import onnx
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from xgboost import XGBClassifier

from tabship.contract.manifest import LABEL, PROBABILITIES
from tabship.export.converters import register_all
from tabship.export.standard.graph import Graph
from tabship.export.standard.refusal import StepRefused

OBJECTIVES = ("binary:logistic", "multi:softprob")


def model_problem(model: Any) -> str | None:
    if type(model) is not XGBClassifier:
        return "the last step must be an XGBClassifier"
    missing = model.missing
    if not (isinstance(missing, float) and math.isnan(missing)):
        return (
            f"missing={missing!r}: only NaN is converted (a sentinel such as 0 or -999 "
            "would make the graph and XGBoost disagree); refit with the default"
        )
    objective = model.get_params().get("objective") or "binary:logistic"
    if objective not in OBJECTIVES:
        return f"objective={objective!r}: supported {list(OBJECTIVES)}"
    if (model.get_params().get("booster") or "gbtree") != "gbtree":
        return "only the gbtree booster is converted"
    return None


def check_model(model: Any, path: str) -> None:
    if problem := model_problem(model):
        raise StepRefused(path, model, problem)


def splice_trees(g: Graph, model: XGBClassifier, features: str, width: int) -> None:
    """Adds the trees reading `features` (float32 [N, width]); outputs label, probabilities."""
    register_all()
    from tabship.export.convert import OPSETS

    if model.get_booster().feature_names is not None:
        # set_output("pandas") names the booster's features (num__x ...); onnxmltools reads
        # splits only as f0, f1 ...: the same trees on a copy without the names
        model = copying.deepcopy(model)
        model.get_booster().feature_names = None
    trees: onnx.ModelProto = convert_sklearn(
        model,
        initial_types=[("trees_input", FloatTensorType([None, width]))],
        target_opset=dict(OPSETS),
        options={XGBClassifier: {"zipmap": False}},
    )
    graph = trees.graph
    keep = {LABEL, PROBABILITIES}
    renamed: dict[str, str] = {"trees_input": features}

    def name(old: str) -> str:
        if old == "" or old in keep:
            return old
        if old not in renamed:
            renamed[old] = g.name(f"trees_{old}")
        return renamed[old]

    for tensor in graph.initializer:
        copy = onnx.TensorProto()
        copy.CopyFrom(tensor)
        copy.name = name(tensor.name)
        g.initializers.append(copy)
    for node in graph.node:
        copy_node = onnx.NodeProto()
        copy_node.CopyFrom(node)
        copy_node.input[:] = [name(n) for n in node.input]
        copy_node.output[:] = [name(n) for n in node.output]
        copy_node.name = g.name(node.op_type)
        g.nodes.append(copy_node)
    outputs = [o.name for o in graph.output]
    if outputs != [LABEL, PROBABILITIES]:
        raise ValueError(f"unexpected tree converter outputs {outputs}")
