"""The tree ensemble of an ONNX graph as arrays, read with protobuf (no `onnx` at serve time).

One TreeEnsembleClassifier / TreeEnsembleRegressor of ai.onnx.ml (float attributes, as
onnxmltools writes XGBoost): per node its tree, feature, threshold, comparison, children and
missing-value branch; per leaf its weight in each score column; the base values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tabship.runtime.model.onnx_proto import onnx_ml_pb2 as pb

ENSEMBLES = ("TreeEnsembleClassifier", "TreeEnsembleRegressor")
# nodes_modes -> code; LEAF is the only non-branch
MODES = {"BRANCH_LEQ": 0, "BRANCH_LT": 1, "BRANCH_GTE": 2, "BRANCH_GT": 3, "BRANCH_EQ": 4}
MODES |= {"BRANCH_NEQ": 5, "LEAF": -1}


class ForestError(ValueError):
    """The graph's trees cannot be explained (named reason)."""


@dataclass(frozen=True)
class Forest:
    input_name: str  # the tensor the trees read: float32 [N, n_features]
    tree_ids: np.ndarray  # int64 [nodes], in the order of the nodes_* attributes
    node_ids: np.ndarray  # int64 [nodes]
    feature: np.ndarray  # int64 [nodes]
    threshold: np.ndarray  # float32 [nodes]
    mode: np.ndarray  # int8 [nodes]: MODES
    true_child: np.ndarray  # int64 [nodes]: index into the arrays (-1 for leaves)
    false_child: np.ndarray  # int64 [nodes]
    missing_true: np.ndarray  # bool [nodes]
    leaf_weight: np.ndarray  # float64 [nodes, n_scores] (0 on branches)
    base: np.ndarray  # float64 [n_scores]
    roots: np.ndarray  # int64 [trees]: index of each tree's root
    n_features: int

    @property
    def n_scores(self) -> int:
        return int(self.leaf_weight.shape[1])


def _attributes(node: pb.NodeProto) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for attribute in node.attribute:
        if attribute.type == pb.AttributeProto.INTS:
            found[attribute.name] = list(attribute.ints)
        elif attribute.type == pb.AttributeProto.FLOATS:
            found[attribute.name] = list(attribute.floats)
        elif attribute.type == pb.AttributeProto.STRINGS:
            found[attribute.name] = [s.decode() for s in attribute.strings]
        elif attribute.type == pb.AttributeProto.STRING:
            found[attribute.name] = attribute.s.decode()
        elif attribute.type == pb.AttributeProto.TENSOR:
            found[attribute.name] = attribute  # *_as_tensor: not supported, named below
    return found


def ensemble_node(model: pb.ModelProto) -> pb.NodeProto:
    found = [n for n in model.graph.node if n.op_type in ENSEMBLES and n.domain == "ai.onnx.ml"]
    if len(found) != 1:
        raise ForestError(f"the graph has {len(found)} tree ensembles; explanations need one")
    return found[0]


def read_forest(model: pb.ModelProto, n_features: int) -> Forest:
    """The ensemble of `model`, whose input has `n_features` columns."""
    node = ensemble_node(model)
    a = _attributes(node)
    tensors = sorted(k for k, v in a.items() if k.endswith("_as_tensor"))
    if tensors:
        raise ForestError(f"tree attributes stored as tensors ({tensors}) are not supported")
    prefix = "class" if node.op_type == "TreeEnsembleClassifier" else "target"
    needed = ["nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values"]
    needed += ["nodes_modes", "nodes_truenodeids", "nodes_falsenodeids"]
    needed += [f"{prefix}_treeids", f"{prefix}_nodeids", f"{prefix}_ids", f"{prefix}_weights"]
    missing = [k for k in needed if k not in a]
    if missing:
        raise ForestError(f"the tree ensemble lacks {missing}")
    if a.get("post_transform", "NONE") not in ("NONE", "LOGISTIC", "SOFTMAX"):
        raise ForestError(f"post_transform {a['post_transform']} is not supported")
    trees = np.asarray(a["nodes_treeids"], dtype=np.int64)
    ids = np.asarray(a["nodes_nodeids"], dtype=np.int64)
    n = len(trees)
    if any(len(a[k]) != n for k in needed[:7]):
        raise ForestError("the tree ensemble's nodes_* attributes differ in length")
    index = {(int(t), int(i)): k for k, (t, i) in enumerate(zip(trees, ids, strict=True))}
    if len(index) != n:
        raise ForestError("a (tree, node) id appears twice")
    try:
        modes = np.asarray([MODES[m] for m in a["nodes_modes"]], dtype=np.int8)
    except KeyError as error:
        raise ForestError(f"unknown node mode {error}") from None
    branch = modes >= 0
    true_child = np.full(n, -1, dtype=np.int64)
    false_child = np.full(n, -1, dtype=np.int64)
    for k in np.flatnonzero(branch):
        t = int(trees[k])
        try:
            true_child[k] = index[(t, int(a["nodes_truenodeids"][k]))]
            false_child[k] = index[(t, int(a["nodes_falsenodeids"][k]))]
        except KeyError:
            raise ForestError(f"tree {t} node {ids[k]}: a child is missing") from None
    feature = np.asarray(a["nodes_featureids"], dtype=np.int64)
    if branch.any() and (feature[branch].min() < 0 or feature[branch].max() >= n_features):
        raise ForestError(f"a split reads a feature outside the {n_features} tree inputs")
    classes = a.get("classlabels_int64s") or a.get("classlabels_strings") or []
    class_ids = np.asarray(a[f"{prefix}_ids"], dtype=np.int64)
    if prefix == "class":
        # Two classes with every weight on class 0: one margin (ORT's binary case).
        n_scores = 1 if len(classes) == 2 and not class_ids.any() else len(classes)
    else:
        n_scores = int(a.get("n_targets", 1))
    if n_scores < 1 or (class_ids.size and (class_ids.min() < 0 or class_ids.max() >= n_scores)):
        raise ForestError("leaf weights name a score column that does not exist")
    leaf_weight = np.zeros((n, n_scores), dtype=np.float64)
    for t, i, c, w in zip(
        a[f"{prefix}_treeids"],
        a[f"{prefix}_nodeids"],
        class_ids,
        a[f"{prefix}_weights"],
        strict=True,
    ):
        leaf = index.get((int(t), int(i)))
        if leaf is None or branch[leaf]:
            raise ForestError(f"tree {t} node {i}: a weight on a node that is not a leaf")
        leaf_weight[leaf, c] += np.float32(w)
    base = np.zeros(n_scores, dtype=np.float64)
    if a.get("base_values"):
        values = np.asarray(a["base_values"], dtype=np.float32)
        if values.size != n_scores:
            raise ForestError(f"{values.size} base values for {n_scores} score columns")
        base = values.astype(np.float64)
    children = set(true_child[branch].tolist()) | set(false_child[branch].tolist())
    roots = np.asarray([k for k in range(n) if k not in children], dtype=np.int64)
    if len(roots) != len(set(trees.tolist())):
        raise ForestError("each tree must have exactly one root")
    return Forest(
        input_name=node.input[0],
        tree_ids=trees,
        node_ids=ids,
        feature=np.where(branch, feature, 0),
        threshold=np.asarray(a["nodes_values"], dtype=np.float32),
        mode=modes,
        true_child=true_child,
        false_child=false_child,
        missing_true=np.asarray(a.get("nodes_missing_value_tracks_true") or [0] * n, dtype=bool),
        leaf_weight=leaf_weight,
        base=base,
        roots=roots,
        n_features=n_features,
    )


_COMPARE = (np.less_equal, np.less, np.greater_equal, np.greater, np.equal, np.not_equal)


def branch_taken(forest: Forest, nodes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """bool, the shape of `values`: whether a value takes the true branch at the node beside
    it (`nodes` broadcasts against `values`), as onnxruntime decides it: float32 comparison,
    NaN follows the missing-value branch."""
    modes = np.broadcast_to(forest.mode[nodes], values.shape)
    threshold = np.broadcast_to(forest.threshold[nodes], values.shape)
    present = np.unique(modes)
    with np.errstate(invalid="ignore"):
        if present.size == 1:
            out = _COMPARE[int(present[0])](values, threshold)
        else:
            out = np.zeros(values.shape, dtype=bool)
            for code in present.tolist():
                where = modes == code
                out[where] = _COMPARE[code](values[where], threshold[where])
    nan = np.isnan(values)
    if nan.any():
        out = np.where(nan, np.broadcast_to(forest.missing_true[nodes], values.shape), out)
    return np.asarray(out, dtype=bool)


def goes_true(forest: Forest, nodes: np.ndarray, x: np.ndarray) -> np.ndarray:
    """bool [rows, len(nodes)]: the branch each row takes at each node."""
    return branch_taken(forest, nodes[None, :], x[:, forest.feature[nodes]])
