"""The float32 matrix reaching the trees, graph against pipeline, bit for bit.

The graph's tree ensemble reads one float32 tensor (after the one Cast); the pipeline's
trees read its preprocessing's float64 output cast to float32 (by Float32Cast, or by XGBoost
itself), with a sparse output's unstored cells missing, as XGBoost reads them. Any cell that
differs names its column: a wrong converter shows here even when no row flips.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
from scipy import sparse

from tabship.parity_tests.compare import feeds_for
from tabship.runtime.model.session import session_options

TREE_OPS = ("TreeEnsembleClassifier", "TreeEnsemble")


@dataclass(frozen=True)
class TreeInputs:
    cells: int  # cells whose float32 bits differ (NaN equals NaN)
    column: str | None  # the column with the most of them
    column_cells: int


def tree_input_session(model_bytes: bytes) -> tuple[ort.InferenceSession, str] | None:
    """A session of the graph that also outputs the trees' input; None without trees."""
    model = onnx.load_from_string(model_bytes)
    node = next((n for n in model.graph.node if n.op_type in TREE_OPS), None)
    if node is None:
        return None
    name = node.input[0]
    model.graph.output.append(
        onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, [None, None])
    )
    session = ort.InferenceSession(
        model.SerializeToString(),
        sess_options=session_options(1),
        providers=["CPUExecutionProvider"],
    )
    return session, name


def pipeline_tree_inputs(pipeline: Any, frame: pd.DataFrame) -> np.ndarray:
    with np.errstate(all="ignore"):
        matrix = pipeline.named_steps["contract"].transform(frame)
    if sparse.issparse(matrix):
        coo = matrix.tocoo()
        dense = np.full(coo.shape, np.nan, dtype=np.float64)
        dense[coo.row, coo.col] = coo.data
        matrix = dense
    with np.errstate(over="ignore"):
        return np.asarray(matrix, dtype=np.float64).astype(np.float32)


def _names(pipeline: Any, width: int) -> list[str]:
    try:
        names = [str(n) for n in pipeline.named_steps["contract"].get_feature_names_out()]
    except (AttributeError, ValueError):
        names = []
    return names if len(names) == width else [f"feature {i}" for i in range(width)]


def compare_tree_inputs(
    pipeline: Any, probe: tuple[ort.InferenceSession, str], frame: pd.DataFrame
) -> TreeInputs:
    session, output = probe
    graph = session.run([output], feeds_for(session, frame))[0]
    reference = pipeline_tree_inputs(pipeline, frame)
    if graph.shape != reference.shape:
        raise ValueError(
            f"trees read {graph.shape} in the graph, {reference.shape} in the pipeline"
        )
    same = (graph.view(np.uint32) == reference.view(np.uint32)) | (
        np.isnan(graph) & np.isnan(reference)
    )
    per_column = (~same).sum(axis=0)
    if not per_column.any():
        return TreeInputs(0, None, 0)
    worst = int(np.argmax(per_column))
    return TreeInputs(
        int(per_column.sum()), _names(pipeline, graph.shape[1])[worst], int(per_column[worst])
    )
