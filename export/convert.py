"""The fitted pipeline -> one ONNX graph: typed raw inputs, float64 contract, float32 trees."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import DoubleTensorType, StringTensorType
from sklearn.pipeline import Pipeline
from xgboost import XGBClassifier

from tabship.contract.manifest import DECISION, LABEL, OUTPUT_TYPES, PROBABILITIES
from tabship.contract.target import MULTICLASS_DECISION_TYPE
from tabship.export.converters import register_all
from tabship.export.fuse import fuse_lookup_guards
from tabship.training.declaration import Declaration

# Pinned: RegexFullMatch needs ai.onnx 20; onnxmltools' tree converter emits ai.onnx.ml 3.
OPSETS: dict[str, int] = {"": 21, "ai.onnx.ml": 3}
MIN_ONNXRUNTIME = "1.18"  # the first release with ai.onnx opset 21
# IR 10 is what opset 21 needs; onnxruntime-node 1.30 refuses files above IR 13, and onnx
# writes the newest IR by default.
IR_VERSION = 10

OUTPUTS = [
    {
        "name": LABEL,
        "onnx_type": OUTPUT_TYPES[LABEL],
        "shape": ["N"],
        "description": "class at probability 0.5 (scikit-learn's predict)",
    },
    {
        "name": PROBABILITIES,
        "onnx_type": OUTPUT_TYPES[PROBABILITIES],
        "shape": ["N", 2],
        "description": "[P(negative), P(positive)] as float32",
    },
    {
        "name": DECISION,
        "onnx_type": OUTPUT_TYPES[DECISION],
        "shape": ["N"],
        "description": "1 where probabilities[:, 1] >= threshold.value (compared in float64)",
    },
]


# Multiclass: the decision is the arg-max, the class name a lookup in the graph.
ARGMAX_TIES = "the lowest index among equal probabilities (numpy's argmax)"


def multiclass_outputs(classes: list[str]) -> list[dict[str, object]]:
    k = len(classes)
    return [
        {
            "name": LABEL,
            "onnx_type": OUTPUT_TYPES[LABEL],
            "shape": ["N"],
            "description": f"index of the class of highest probability into classes; ties: "
            f"{ARGMAX_TIES}",
        },
        {
            "name": PROBABILITIES,
            "onnx_type": OUTPUT_TYPES[PROBABILITIES],
            "shape": ["N", k],
            "description": f"P(class) per class, columns in the order of classes {classes}, "
            "as float32",
        },
        {
            "name": DECISION,
            "onnx_type": MULTICLASS_DECISION_TYPE,
            "shape": ["N"],
            "description": "the class name at label (classes[label])",
        },
    ]


def initial_types(declaration: Declaration) -> list[tuple[str, object]]:
    return [
        (
            c.name,
            DoubleTensorType([None, 1]) if c.kind == "numeric" else StringTensorType([None, 1]),
        )
        for c in declaration.columns
    ]


def convert_pipeline(
    pipeline: Pipeline,
    declaration: Declaration,
    threshold: float | None,
    classes: list[str] | None = None,
) -> onnx.ModelProto:
    """The whole pipeline as ONNX, with a `decision` output at `threshold` (binary) or the
    arg-max class name (multiclass, `classes` in probability order). No metadata yet."""
    register_all()
    model: onnx.ModelProto = convert_sklearn(
        pipeline,
        initial_types=initial_types(declaration),
        target_opset=dict(OPSETS),
        options={XGBClassifier: {"zipmap": False}},
    )
    _restore_input_names(model.graph, [c.name for c in declaration.columns])
    fuse_lookup_guards(model)
    if classes:
        _add_multiclass_decision(model, classes)
    else:
        assert threshold is not None
        _add_decision(model, threshold)
    del model.opset_import[:]
    model.opset_import.extend(helper.make_opsetid(d, v) for d, v in sorted(OPSETS.items()))
    model.graph.name = "tabship"
    model.ir_version = IR_VERSION
    return model


def _subgraphs(node: onnx.NodeProto) -> list[onnx.GraphProto]:
    """The branches of an If (and any other graph attribute), which read outer tensors by name."""
    graphs: list[onnx.GraphProto] = []
    for attribute in node.attribute:
        if attribute.type == onnx.AttributeProto.GRAPH:
            graphs.append(attribute.g)
        elif attribute.type == onnx.AttributeProto.GRAPHS:
            graphs.extend(attribute.graphs)
    return graphs


def _tensor_names(graph: onnx.GraphProto) -> set[str]:
    names = {i.name for i in graph.input} | {o.name for o in graph.output}
    names |= {t.name for t in graph.initializer} | {v.name for v in graph.value_info}
    for node in graph.node:
        names.update(node.input)
        names.update(node.output)
        for subgraph in _subgraphs(node):
            names |= _tensor_names(subgraph)
    return names


def _rename_tensor(graph: onnx.GraphProto, old: str, new: str) -> None:
    entries: list[onnx.ValueInfoProto | onnx.TensorProto] = [
        *graph.input,
        *graph.output,
        *graph.value_info,
        *graph.initializer,
    ]
    for entry in entries:
        if entry.name == old:
            entry.name = new
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
        for subgraph in _subgraphs(node):
            _rename_tensor(subgraph, old, new)


def _restore_input_names(graph: onnx.GraphProto, columns: list[str]) -> None:
    """skl2onnx turns input names into identifiers ("visit count" -> "visit_count"); the
    contract is that graph inputs carry the user's column names, so rename them back (and any
    internal tensor that happens to hold a user's name out of the way)."""
    if len(graph.input) != len(columns):
        raise ValueError(f"converter made {len(graph.input)} inputs for {len(columns)} columns")
    reserved = {o.name for o in graph.output} | {LABEL, PROBABILITIES, DECISION}
    clash = sorted(reserved & set(columns))
    if clash:
        raise ValueError(f"column names {clash} are the graph's output names")
    for index, column in enumerate(columns):
        generated = graph.input[index].name
        if generated == column:
            continue
        names = _tensor_names(graph)
        if column in names:  # another tensor (or a later input) holds the name: move it aside
            spare = column
            while spare in names:
                spare += "_"
            _rename_tensor(graph, column, spare)
        _rename_tensor(graph, graph.input[index].name, column)


def _add_decision(model: onnx.ModelProto, threshold: float) -> None:
    graph = model.graph
    names = [o.name for o in graph.output]
    if names != [LABEL, PROBABILITIES]:
        raise ValueError(f"unexpected converter outputs {names}")
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(1, dtype=np.int64), "decision_positive_column"),
            numpy_helper.from_array(np.array(threshold, dtype=np.float64), "decision_threshold"),
        ]
    )
    graph.node.extend(
        [
            helper.make_node(
                "Gather",
                [PROBABILITIES, "decision_positive_column"],
                ["decision_p1"],
                axis=1,
                name="decision_Gather",
            ),
            helper.make_node(
                "Cast",
                ["decision_p1"],
                ["decision_p1_double"],
                to=TensorProto.DOUBLE,
                name="decision_Cast",
            ),
            helper.make_node(
                "GreaterOrEqual",
                ["decision_p1_double", "decision_threshold"],
                ["decision_bool"],
                name="decision_GreaterOrEqual",
            ),
            helper.make_node(
                "Cast",
                ["decision_bool"],
                [DECISION],
                to=TensorProto.INT64,
                name="decision_CastInt64",
            ),
        ]
    )
    graph.output.append(helper.make_tensor_value_info(DECISION, TensorProto.INT64, [None]))


def _add_multiclass_decision(model: onnx.ModelProto, classes: list[str]) -> None:
    """label = ArgMax(probabilities) (first maximum, as numpy and scikit-learn's predict),
    decision = classes[label]. The converter's own label is left internal: its tie rule is the
    runtime's, not one the contract states."""
    graph = model.graph
    names = [o.name for o in graph.output]
    if names != [LABEL, PROBABILITIES]:
        raise ValueError(f"unexpected converter outputs {names}")
    converter_label = "converter_label"
    _rename_tensor(graph, LABEL, converter_label)
    del graph.output[0]
    graph.initializer.append(
        numpy_helper.from_array(np.array(classes, dtype=object), "decision_class_names")
    )
    graph.node.extend(
        [
            helper.make_node(
                "ArgMax",
                [PROBABILITIES],
                [LABEL],
                axis=1,
                keepdims=0,
                select_last_index=0,
                name="label_ArgMax",
            ),
            helper.make_node(
                "Gather",
                ["decision_class_names", LABEL],
                [DECISION],
                axis=0,
                name="decision_Gather",
            ),
        ]
    )
    graph.output.insert(0, helper.make_tensor_value_info(LABEL, TensorProto.INT64, [None]))
    graph.output.append(helper.make_tensor_value_info(DECISION, TensorProto.STRING, [None]))
