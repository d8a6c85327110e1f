"""A served model's explainer: its trees (from the verified graph), covers (from the verified
explainer.json), the trees' input exposed by the session, and contributions per model feature
and per column (the manifest's `explanations` section says which column each feature is in)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from tabship.contract.explanations import FORMAT, columns_of
from tabship.runtime.explain.forest import Forest, ForestError, read_forest
from tabship.runtime.explain.paths import PathTable, build_paths
from tabship.runtime.explain.treeshap import contributions, margins
from tabship.runtime.model.onnx_wire import WireError, parse_model

FLOAT = 1  # TensorProto.FLOAT


@dataclass(frozen=True)
class Contributions:
    """One batch's explanation, margin scale. `values` [rows, scores, features or columns]
    plus `bias` [scores] (the expected value) add up to each row's margin."""

    values: np.ndarray
    bias: np.ndarray
    names: list[str]


class Explainer:
    def __init__(self, model_bytes: bytes, file_bytes: bytes, section: dict[str, Any]) -> None:
        """Raises ForestError when the graph's trees, the file and the section disagree."""
        try:
            model = parse_model(model_bytes)
        except WireError as error:
            raise ForestError(str(error)) from None
        self.features: list[str] = list(section["features"])
        self.columns = columns_of(section)
        self.forest: Forest = read_forest(model, len(self.features))
        covers = _read_covers(file_bytes, self.forest)
        self.table: PathTable = build_paths(self.forest, covers)
        position = {c: i for i, c in enumerate(self.columns)}
        group = np.asarray([position[g] for g in section["groups"]], dtype=np.int64)
        # [features, columns] 0/1: a feature's contribution counts in its column
        self._fold = np.zeros((len(self.features), len(self.columns)), dtype=np.float64)
        self._fold[np.arange(len(self.features)), group] = 1.0
        self.output = self.forest.input_name

    @property
    def n_scores(self) -> int:
        return self.forest.n_scores

    @property
    def bias(self) -> np.ndarray:
        return self.table.bias

    def exposing(self, model_bytes: bytes) -> bytes:
        """The graph with the trees' input as one more output (float32 [N, features]): the
        session computes it anyway, a request that does not ask for it does not pay for it."""
        model = parse_model(model_bytes)
        if self.output in {o.name for o in model.graph.output}:
            return model_bytes
        value = model.graph.output.add()
        value.name = self.output
        tensor = value.type.tensor_type
        tensor.elem_type = FLOAT
        tensor.shape.dim.add().dim_param = "N"
        tensor.shape.dim.add().dim_value = len(self.features)
        exposed: bytes = model.SerializeToString()
        return exposed

    def by_feature(self, x: np.ndarray) -> Contributions:
        """x: the trees' float32 input [rows, features]."""
        self._check(x)
        return Contributions(contributions(self.forest, self.table, x), self.bias, self.features)

    def by_column(self, x: np.ndarray) -> Contributions:
        per_feature = self.by_feature(x)
        return Contributions(per_feature.values @ self._fold, self.bias, self.columns)

    def margins(self, x: np.ndarray) -> np.ndarray:
        """[rows, scores]: what contributions + bias add up to."""
        self._check(x)
        return margins(self.forest, x)

    def _check(self, x: np.ndarray) -> None:
        if x.ndim != 2 or x.shape[1] != len(self.features):
            raise ValueError(f"tree input of shape {x.shape}, expected [N, {len(self.features)}]")


def _read_covers(data: bytes, forest: Forest) -> np.ndarray:
    try:
        content = json.loads(data)
    except (ValueError, RecursionError) as error:
        raise ForestError(f"explainer file is not JSON ({error})") from None
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise ForestError(f"explainer file is not {FORMAT}")
    try:
        trees = np.asarray(content["tree_ids"], dtype=np.int64)
        nodes = np.asarray(content["node_ids"], dtype=np.int64)
        covers = np.asarray(content["covers"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as error:
        raise ForestError(f"explainer file: {error}") from None
    if not (
        np.array_equal(trees, forest.tree_ids)
        and np.array_equal(nodes, forest.node_ids)
        and covers.shape == trees.shape
    ):
        raise ForestError("explainer file describes other trees than the graph's")
    if not np.all(np.isfinite(covers)):
        raise ForestError("explainer file: covers must be finite numbers")
    return covers
