"""What the served explanations need beyond the graph: the node covers of the booster's trees,
aligned with the graph's tree ensemble (explainer.json), and which raw column each model
feature belongs to (the manifest's `explanations` section). tabship/contract/explanations.py
describes both; the server's TreeSHAP (tabship/runtime/explain/) reads them.

The covers are matched to the graph by walking each booster tree and the graph's tree
together: the same feature, threshold (float32), missing-value branch and leaf weight at every
node, or the export stops naming the node. So the file can only describe this graph.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import onnx
from sklearn.compose import ColumnTransformer

from tabship.contract.explanations import EXPLAINER_FILE, FORMAT, METHOD, SCALE
from tabship.training.declaration import Declaration

ENSEMBLES = ("TreeEnsembleClassifier", "TreeEnsembleRegressor")


class ExplainerMismatch(ValueError):
    """The booster's trees and the graph's trees differ (named node)."""


def _ensemble(model: onnx.ModelProto) -> dict[str, Any]:
    nodes = [n for n in model.graph.node if n.op_type in ENSEMBLES]
    if len(nodes) != 1:
        raise ExplainerMismatch(f"the graph has {len(nodes)} tree ensembles, expected one")
    prefix = "class" if nodes[0].op_type == "TreeEnsembleClassifier" else "target"
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in nodes[0].attribute}
    return {"prefix": prefix, **attributes}


def booster_trees(pipeline: Any) -> list[dict[str, Any]]:
    booster = pipeline[-1].get_booster()
    raw = json.loads(booster.save_raw(raw_format="json"))
    trees: list[dict[str, Any]] = raw["learner"]["gradient_booster"]["model"]["trees"]
    return trees


def graph_covers(pipeline: Any, model: onnx.ModelProto) -> dict[str, Any]:
    """The explainer file's content: a cover per node of the graph's ensemble."""
    a = _ensemble(model)
    tree_ids = [int(t) for t in a["nodes_treeids"]]
    node_ids = [int(i) for i in a["nodes_nodeids"]]
    index = {(t, i): k for k, (t, i) in enumerate(zip(tree_ids, node_ids, strict=True))}
    modes = [m.decode() if isinstance(m, bytes) else m for m in a["nodes_modes"]]
    missing = a.get("nodes_missing_value_tracks_true") or [0] * len(tree_ids)
    prefix = a["prefix"]
    leaf_weight: dict[int, float] = {}
    for t, i, w in zip(
        a[f"{prefix}_treeids"], a[f"{prefix}_nodeids"], a[f"{prefix}_weights"], strict=True
    ):
        k = index[(int(t), int(i))]
        leaf_weight[k] = leaf_weight.get(k, 0.0) + float(np.float32(w))
    trees = booster_trees(pipeline)
    graph_trees = sorted(set(tree_ids))
    if graph_trees != list(range(len(graph_trees))) or len(graph_trees) > len(trees):
        raise ExplainerMismatch(
            f"the graph's trees {graph_trees[:3]}... do not match the booster's {len(trees)}"
        )
    covers: list[float | None] = [None] * len(tree_ids)
    children = {
        k
        for k, mode in enumerate(modes)
        if mode != "LEAF"
        for k in (
            index[(tree_ids[k], int(a["nodes_truenodeids"][k]))],
            index[(tree_ids[k], int(a["nodes_falsenodeids"][k]))],
        )
    }
    for t in graph_trees:
        roots = [k for k, tid in enumerate(tree_ids) if tid == t and k not in children]
        if len(roots) != 1:
            raise ExplainerMismatch(f"graph tree {t} has {len(roots)} roots")
        tree = trees[t]
        stack = [(roots[0], 0)]
        while stack:
            k, nid = stack.pop()
            where = f"tree {t} node {nid} (graph node {node_ids[k]})"
            covers[k] = float(np.float32(tree["sum_hessian"][nid]))
            left, right = tree["left_children"][nid], tree["right_children"][nid]
            if left == -1:
                value = float(np.float32(tree["split_conditions"][nid]))
                if modes[k] != "LEAF" or leaf_weight.get(k, 0.0) != value:
                    raise ExplainerMismatch(f"{where}: leaf {value} vs graph {leaf_weight.get(k)}")
                continue
            if (
                modes[k] != "BRANCH_LT"
                or int(a["nodes_featureids"][k]) != tree["split_indices"][nid]
                or np.float32(a["nodes_values"][k]) != np.float32(tree["split_conditions"][nid])
                or bool(missing[k]) != bool(tree["default_left"][nid])
                or tree.get("split_type", [0] * (nid + 1))[nid] != 0
            ):
                raise ExplainerMismatch(f"{where}: the split differs from the graph's")
            stack.append((index[(t, int(a["nodes_truenodeids"][k]))], left))
            stack.append((index[(t, int(a["nodes_falsenodeids"][k]))], right))
    if any(c is None for c in covers):
        raise ExplainerMismatch("graph nodes that no booster tree reaches")
    return {"format": FORMAT, "tree_ids": tree_ids, "node_ids": node_ids, "covers": covers}


def explainer_bytes(pipeline: Any, model: onnx.ModelProto) -> bytes:
    content = graph_covers(pipeline, model)
    return (json.dumps(content, separators=(",", ":"), allow_nan=False) + "\n").encode()


def _names_out(transformer: Any, columns: list[str]) -> list[str]:
    return [str(n) for n in transformer.get_feature_names_out(columns)]


def feature_groups(pipeline: Any, declaration: Declaration) -> tuple[list[str], list[str]]:
    """(model features in the trees' input order, the column each is reported under).

    One-hot, indicator and single-column derived features go to their raw column; a feature
    derived from several columns keeps its own name."""
    contract = pipeline[0]
    if not isinstance(contract, ColumnTransformer):
        n = int(pipeline[-1].n_features_in_)
        names = [f"f{i}" for i in range(n)]
        return names, names
    sources = {f.name: list(f.inputs) for f in declaration.features}
    features: list[str] = []
    groups: list[str] = []
    for _, transformer, columns in contract.transformers_:
        if transformer == "drop" or not len(columns):
            continue
        columns = [str(c) for c in columns]
        names = _names_out(transformer, columns)
        for name in names:
            if len(columns) == 1:
                group = columns[0]
            elif name in columns:
                group = name
            elif len(sources.get(name, ())) == 1:
                group = sources[name][0]
            else:
                group = name
            features.append(name)
            groups.append(group)
    if len(set(features)) != len(features):  # two branches named a feature alike
        features = [str(n) for n in contract.get_feature_names_out()]
    return features, groups


def explanations_record(
    pipeline: Any, declaration: Declaration, data: bytes, sha256: str
) -> dict[str, Any]:
    features, groups = feature_groups(pipeline, declaration)
    expected = int(pipeline[-1].n_features_in_)
    if len(features) != expected:
        raise ExplainerMismatch(f"{len(features)} feature names for {expected} tree inputs")
    return {
        "file": EXPLAINER_FILE,
        "sha256": sha256,
        "bytes": len(data),
        "method": METHOD,
        "scale": SCALE,
        "features": features,
        "groups": groups,
    }
