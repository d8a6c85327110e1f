"""Scoring the same raw rows through the reference pipeline and the ONNX graph, and comparing."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd

from tabship.contract.manifest import (
    CATEGORICAL,
    KIND_ONNX_TYPES,
    OUTPUT_NAMES,
)
from tabship.contract.target import Target
from tabship.contract.values import category_text, number_value

BAR_MAX_ABS_DP = 1e-6
_ONNX_DTYPES = {"tensor(double)": np.float64, "tensor(float)": np.float32}
_number = np.frompyfunc(number_value, 1, 1)
_text = np.frompyfunc(category_text, 1, 1)


@dataclass(frozen=True)
class SetResult:
    name: str
    rows: int
    max_abs_dp: float
    flips: int  # labels at 0.5 that differ
    threshold_flips: int  # decisions at the manifest's threshold that differ
    worst_row: int | None
    note: str | None = None  # e.g. how a capped set was sampled
    error: str | None = None  # the set could not be built or scored: it fails
    # float32 cells reaching the trees whose bits differ from the pipeline's (tree_inputs.py)
    tree_input_cells: int = 0
    tree_input_column: str | None = None
    # rows refused on an input with the model's own rules (gate.refused_rows): no
    # consumer scores them, so they are not compared (counted apart from `rows`)
    refused: int = 0

    @classmethod
    def broken(cls, name: str, error: str) -> SetResult:
        return cls(name, 0, math.inf, 0, 0, None, error=error)

    @property
    def passed(self) -> bool:
        return (
            self.error is None
            and self.max_abs_dp <= BAR_MAX_ABS_DP
            and self.flips == 0
            and self.threshold_flips == 0
            and self.tree_input_cells == 0
        )

    def as_dict(self) -> dict[str, Any]:
        fields = asdict(self)
        if not math.isfinite(self.max_abs_dp):
            fields["max_abs_dp"] = None  # JSON has no infinity
        return {**fields, "passed": self.passed}


def feeds_for(session: ort.InferenceSession, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Feeds as every tabship feeder builds them (tabship/contract/values.py), typed as the graph asks."""
    feeds = {}
    for graph_input in session.get_inputs():
        values = frame[graph_input.name].to_numpy(dtype=object)
        if graph_input.type == KIND_ONNX_TYPES[CATEGORICAL]:
            column = _text(values).astype(object) if len(values) else values
        else:
            parsed = np.asarray(_number(values) if len(values) else values, dtype=np.float64)
            with np.errstate(over="ignore"):  # 1e308 -> inf is what a float32 input means
                column = parsed.astype(_ONNX_DTYPES[graph_input.type])
        feeds[graph_input.name] = column.reshape(-1, 1)
    return feeds


def compare(
    name: str,
    pipeline: Any,
    session: ort.InferenceSession,
    frame: pd.DataFrame,
    target: Target,
) -> tuple[SetResult, np.ndarray]:
    """Returns the set's result and the reference probabilities the target compares (binary:
    P(positive) per row; multiclass: [N, K]). max |dP| over the compared columns; the flips
    are the target's (tabship.contract.target)."""
    with np.errstate(all="ignore"):  # extreme rows overflow inside scikit-learn's checks
        reference = pipeline.predict_proba(frame)
        reference_label = np.asarray(pipeline.predict(frame))
    label, probabilities, decision = session.run(list(OUTPUT_NAMES), feeds_for(session, frame))
    if probabilities.shape != reference.shape:
        raise ValueError(f"graph probabilities {probabilities.shape}, reference {reference.shape}")
    difference = np.abs(probabilities.astype(np.float64) - reference.astype(np.float64))
    difference = target.largest_difference(np.where(np.isnan(difference), np.inf, difference))
    compared = target.compared(reference)
    flips, threshold_flips = target.flips(compared, reference_label, label, decision)
    result = SetResult(
        name=name,
        rows=len(frame),
        max_abs_dp=float(difference.max()) if len(frame) else 0.0,
        flips=flips,
        threshold_flips=threshold_flips,
        worst_row=int(np.argmax(difference)) if len(frame) else None,
    )
    return result, compared
