"""A small contract-shaped model built with onnx.helper, for the runtime tests.

Inputs per docs/contract.md (float64 [N,1] numbers, string [N,1] categories, one with integer
codes); the graph cleans NaN with Where(IsNaN), matches categories with Equal, combines them
linearly, and returns label / probabilities / decision like a real export.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

NUMERIC = {
    # name: (weight, nullable, observed range)
    "PageValues": (0.02, True, (0.0, 361.8)),
    "ExitRates": (-3.0, True, (0.0, 0.2)),
    "Administrative": (0.05, False, (0.0, 27.0)),
}
CATEGORICAL = {
    # name: (matched category, weight, nullable, categories, aliases, integer_codes)
    "Month": (
        "nov",
        1.0,
        True,
        ["aug", "dec", "feb", "jul", "jun", "mar", "may", "nov", "oct", "sep"],
        {"november": "nov", "december": "dec", "sept": "sep"},
        False,
    ),
    "VisitorType": (
        "new_visitor",
        0.5,
        False,
        ["new_visitor", "other", "returning_visitor"],
        {"new visitor": "new_visitor", "returning visitor": "returning_visitor"},
        False,
    ),
    "OperatingSystems": ("2", -0.3, True, ["1", "2", "3", "4", "8"], {}, True),
}
BIAS = -1.0


def build_graph(
    threshold: float,
    *,
    bias: float = BIAS,
    metadata: dict[str, str] | None = None,
    extra_input: bool = False,
    domain_node: str | None = None,
) -> onnx.ModelProto:
    nodes: list[onnx.NodeProto] = []
    inits: list[TensorProto] = [
        numpy_helper.from_array(np.array(0.0), "zero"),
        numpy_helper.from_array(np.array(bias), "bias"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one_f"),
        numpy_helper.from_array(np.array(0.5, dtype=np.float32), "half_f"),
        numpy_helper.from_array(np.array(threshold, dtype=np.float32), "threshold_f"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
    ]
    inputs = []
    terms = []
    for name, (weight, _, _) in NUMERIC.items():
        inputs.append(helper.make_tensor_value_info(name, TensorProto.DOUBLE, ["N", 1]))
        inits.append(numpy_helper.from_array(np.array(weight), f"w_{name}"))
        nodes += [
            helper.make_node("IsNaN", [name], [f"{name}_nan"]),
            helper.make_node("Where", [f"{name}_nan", "zero", name], [f"{name}_clean"]),
            helper.make_node("Mul", [f"{name}_clean", f"w_{name}"], [f"{name}_term"]),
        ]
        terms.append(f"{name}_term")
    for name, (match, weight, *_rest) in CATEGORICAL.items():
        inputs.append(helper.make_tensor_value_info(name, TensorProto.STRING, ["N", 1]))
        inits.append(helper.make_tensor(f"c_{name}", TensorProto.STRING, [], [match.encode()]))
        inits.append(numpy_helper.from_array(np.array(weight), f"w_{name}"))
        nodes += [
            helper.make_node("Equal", [name, f"c_{name}"], [f"{name}_eq"]),
            helper.make_node("Cast", [f"{name}_eq"], [f"{name}_num"], to=TensorProto.DOUBLE),
            helper.make_node("Mul", [f"{name}_num", f"w_{name}"], [f"{name}_term"]),
        ]
        terms.append(f"{name}_term")
    if extra_input:
        inputs.append(helper.make_tensor_value_info("Surprise", TensorProto.DOUBLE, ["N", 1]))
        nodes.append(helper.make_node("Mul", ["Surprise", "zero"], ["surprise_term"]))
        terms.append("surprise_term")
    nodes.append(helper.make_node("Sum", [*terms, "bias"], ["z"]))
    nodes.append(helper.make_node("Sigmoid", ["z"], ["p1_d"]))
    nodes.append(helper.make_node("Cast", ["p1_d"], ["p1"], to=TensorProto.FLOAT))
    nodes.append(helper.make_node("Sub", ["one_f", "p1"], ["p0"]))
    nodes.append(helper.make_node("Concat", ["p0", "p1"], ["probabilities"], axis=1))
    nodes.append(helper.make_node("GreaterOrEqual", ["p1", "half_f"], ["label_b"]))
    nodes.append(helper.make_node("Cast", ["label_b"], ["label_2d"], to=TensorProto.INT64))
    nodes.append(helper.make_node("Squeeze", ["label_2d", "axis1"], ["label"]))
    nodes.append(helper.make_node("GreaterOrEqual", ["p1", "threshold_f"], ["decision_b"]))
    nodes.append(helper.make_node("Cast", ["decision_b"], ["decision_2d"], to=TensorProto.INT64))
    nodes.append(helper.make_node("Squeeze", ["decision_2d", "axis1"], ["decision"]))
    opsets = [helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 3)]
    if domain_node is not None:
        nodes.append(helper.make_node("Identity", ["p1"], ["p1_custom"], domain=domain_node))
        opsets.append(helper.make_opsetid(domain_node, 1))
    outputs = [
        helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2]),
        helper.make_tensor_value_info("decision", TensorProto.INT64, ["N"]),
    ]
    graph = helper.make_graph(nodes, "tabship_fixture", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=opsets, producer_name="tabship")
    model.ir_version = 10
    if metadata:
        helper.set_model_props(model, metadata)
    return model


def manifest_for(
    name: str, version: str, threshold: float, parity: str = "passed"
) -> dict[str, Any]:
    inputs: list[dict[str, Any]] = []
    for column, (_, nullable, (low, high)) in NUMERIC.items():
        inputs.append(
            {
                "name": column,
                "kind": "numeric",
                "onnx_type": "tensor(double)",
                "shape": ["N", 1],
                "nullable": nullable,
                "cleaning": ["outside [0, inf) -> missing"],
                "bounds": {"min": 0, "max": None},
                "range": {"min": low, "max": high},
            }
        )
    for column, (_, _, nullable, categories, aliases, integer_codes) in CATEGORICAL.items():
        inputs.append(
            {
                "name": column,
                "kind": "categorical",
                "onnx_type": "tensor(string)",
                "shape": ["N", 1],
                "nullable": nullable,
                "cleaning": ["strip, lower-case, aliases; unknown bucket"],
                "categories": categories,
                "aliases": aliases,
                "integer_codes": integer_codes,
                "max_length": 64,
            }
        )
    return {
        "manifest_version": 1,
        "name": name,
        "version": version,
        "created_at": "2026-11-26T07:00:00Z",
        "producer": {"name": "tabship", "version": "0.1.0"},
        "git": {"sha": None, "dirty": None},
        "libraries": {
            k: "0"
            for k in [
                "python",
                "numpy",
                "pandas",
                "scikit-learn",
                "xgboost",
                "skl2onnx",
                "onnxmltools",
                "onnx",
                "onnxruntime",
            ]
        },
        "dataset": {"name": "shoppers", "declaration": "online_shoppers.toml", "target": "Revenue"},
        "variant": {"name": "full", "excluded_columns": []},
        "data": {
            "source": "fixture",
            "sha256": "0" * 64,
            "rows": {"raw": 10, "clean": 10, "train": 8, "test": 2},
        },
        "metrics": {
            "roc_auc": 0.9,
            "pr_auc": 0.6,
            "f1": 0.6,
            "precision": 0.6,
            "recall": 0.6,
            "log_loss": 0.3,
            "brier": 0.1,
        },
        "threshold": {
            "value": threshold,
            "rule": "max_f1",
            "chosen_on": "fixture",
            "applies_to": "decision = probabilities[:, 1] >= value",
        },
        "inputs": inputs,
        "outputs": [
            {
                "name": "label",
                "onnx_type": "tensor(int64)",
                "shape": ["N"],
                "description": "class at 0.5",
            },
            {
                "name": "probabilities",
                "onnx_type": "tensor(float)",
                "shape": ["N", 2],
                "description": "[P(neg), P(pos)]",
            },
            {
                "name": "decision",
                "onnx_type": "tensor(int64)",
                "shape": ["N"],
                "description": "p1 >= threshold",
            },
        ],
        "onnx": {
            "file": "model.onnx",
            "opsets": {"": 21, "ai.onnx.ml": 3},
            "ir_version": 10,
            "min_onnxruntime": "1.20",
            "graph_sha256": "0" * 64,
        },
        "parity": {"status": parity},
    }


def write_version(
    root: Path,
    name: str,
    version: str,
    *,
    threshold: float = 0.35,
    bias: float = BIAS,
    parity: str = "passed",
    **graph_options: Any,
) -> Path:
    """<root>/<name>/<version>/model.onnx + manifest.json, like the exporter writes them."""
    manifest = manifest_for(name, version, threshold, parity)
    embedded = copy.deepcopy(manifest)
    embedded["parity"] = {"status": "pending"}
    model = build_graph(
        threshold, bias=bias, metadata={"tabship.manifest": json.dumps(embedded)}, **graph_options
    )
    data = model.SerializeToString()
    manifest["onnx"]["sha256"] = hashlib.sha256(data).hexdigest()
    manifest["onnx"]["bytes"] = len(data)
    folder = root / name / version
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(data)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return folder


def rewrite_manifest(folder: Path, **changes: Any) -> dict[str, Any]:
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.update(changes)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return manifest
