"""The gate's contributions set: the served explainer (tabship/runtime/explain/, on the graph
and explainer.json) against xgboost's pred_contribs of the reference pipeline, on the same rows.

The bar, BAR_MAX_ABS_DPHI = 1e-5 in the margin (log-odds) scale, on every feature, the bias and
the efficiency error: xgboost computes TreeSHAP in float32 (its contributions, its bias and
its margin are float32 sums over the trees), tabship in float64 from the same float32 leaves,
covers and tree inputs. Each float32 step rounds by at most half an ulp (6e-8 relative), so a
sum of a few hundred per-tree terms of magnitude <= 1 lands within ~1e-6 of the exact value
(measured: max |dphi| 5.8e-7, efficiency error 9.9e-7 on a 30-tree model's test rows, see
docs/explanations.md); 1e-5 leaves that headroom while a real fault stays far above it: one
cover nudged by 1 % or one leaf by 1e-4 moves contributions by 1e-4 and more.
The top 3 columns by magnitude must come in the same order, except where the reference's own
values are within the bar of each other (a tie to float32 precision).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
import xgboost as xgb

from tabship.parity_tests.compare import feeds_for
from tabship.runtime.explain.explainer import Explainer
from tabship.runtime.model.session import session_options

BAR_MAX_ABS_DPHI = 1e-5
TOP = 3
SETS = ("test", "boundary", "hostile")


@dataclass(frozen=True)
class ContributionsResult:
    name: str
    rows: int
    max_abs_dphi: float  # per model feature, every score column
    max_abs_dbias: float
    max_efficiency_error: float  # |bias + sum(served) - xgboost's margin|
    rank_changes: int  # rows whose top-3 columns differ beyond ties
    worst_row: int | None
    error: str | None = None

    @classmethod
    def broken(cls, name: str, error: str) -> ContributionsResult:
        return cls(name, 0, math.inf, math.inf, math.inf, 0, None, error)

    @property
    def passed(self) -> bool:
        return (
            self.error is None
            and self.max_abs_dphi <= BAR_MAX_ABS_DPHI
            and self.max_abs_dbias <= BAR_MAX_ABS_DPHI
            and self.max_efficiency_error <= BAR_MAX_ABS_DPHI
            and self.rank_changes == 0
        )

    def as_dict(self) -> dict[str, Any]:
        fields = asdict(self)
        for key in ("max_abs_dphi", "max_abs_dbias", "max_efficiency_error"):
            if not math.isfinite(fields[key]):
                fields[key] = None  # JSON has no infinity
        return {**fields, "passed": self.passed}


def bar() -> dict[str, Any]:
    return {
        "max_abs_dphi": BAR_MAX_ABS_DPHI,
        "max_abs_dbias": BAR_MAX_ABS_DPHI,
        "max_efficiency_error": BAR_MAX_ABS_DPHI,
        "rank_changes": 0,
        "top": TOP,
        "scale": "margin",
        "against": "xgboost pred_contribs=True (float32)",
    }


class Served:
    """The explainer as the server builds it, and its session (the trees' input exposed)."""

    def __init__(self, model_bytes: bytes, explainer_bytes: bytes, section: dict[str, Any]):
        self.explainer = Explainer(model_bytes, explainer_bytes, section)
        self.session = ort.InferenceSession(
            self.explainer.exposing(model_bytes),
            sess_options=session_options(1),
            providers=["CPUExecutionProvider"],
        )
        position = {c: i for i, c in enumerate(self.explainer.columns)}
        self.group = np.asarray([position[g] for g in section["groups"]], dtype=np.int64)

    def tree_input(self, frame: pd.DataFrame) -> np.ndarray:
        (x,) = self.session.run([self.explainer.output], feeds_for(self.session, frame))
        return np.asarray(x)

    def fold(self, per_feature: np.ndarray) -> np.ndarray:
        """[rows, scores, features] -> [rows, scores, columns]."""
        out = np.zeros((*per_feature.shape[:2], len(self.explainer.columns)))
        np.add.at(out, (slice(None), slice(None), self.group), per_feature)
        return out


def reference(pipeline: Any, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(pred_contribs [rows, scores, features + 1], margin [rows, scores]) of the pipeline."""
    model = pipeline[-1]
    with np.errstate(over="ignore"):
        x = np.asarray(pipeline[:-1].transform(frame), dtype=np.float64).astype(np.float32)
    # A DMatrix refuses +-inf (hostile rows overflow to it); the largest float32 takes the
    # same branch at every finite float32 threshold, so the paths are the same.
    big = np.finfo(np.float32).max
    x = np.nan_to_num(x, nan=np.nan, posinf=big, neginf=-big)
    best = getattr(model, "best_iteration", None)
    iterations = (0, best + 1) if best is not None else (0, 0)
    booster, matrix = model.get_booster(), xgb.DMatrix(x, missing=np.nan)
    contribs = booster.predict(matrix, pred_contribs=True, iteration_range=iterations)
    margin = booster.predict(matrix, output_margin=True, iteration_range=iterations)
    if contribs.ndim == 2:
        contribs, margin = contribs[:, None, :], margin.reshape(-1, 1)
    return contribs.astype(np.float64), margin.astype(np.float64)


def rank_changes(served: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """bool [rows]: a row (any score column) whose served top-3 columns are not the
    reference's, ties within the bar allowed."""
    magnitude, served_magnitude = np.abs(expected), np.abs(served)
    top = min(TOP, magnitude.shape[-1])
    ranked = -np.sort(-magnitude, axis=-1)[..., :top]
    chosen = np.argsort(-served_magnitude, axis=-1, kind="stable")[..., :top]
    picked = np.take_along_axis(magnitude, chosen, axis=-1)
    changed: np.ndarray = (np.abs(picked - ranked) > 2 * BAR_MAX_ABS_DPHI).any(axis=(1, 2))
    return changed


def compare_contributions(
    name: str, pipeline: Any, served: Served, frame: pd.DataFrame
) -> ContributionsResult:
    if len(frame) == 0:
        return ContributionsResult(name, 0, 0.0, 0.0, 0.0, 0, None)
    expected, margin = reference(pipeline, frame)
    explained = served.explainer.by_feature(served.tree_input(frame))
    if expected.shape[:2] != explained.values.shape[:2]:
        raise ValueError(
            f"reference contributions {expected.shape}, served {explained.values.shape}"
        )
    dphi = np.abs(explained.values - expected[:, :, :-1]).max(axis=(1, 2))
    dphi = np.where(np.isnan(dphi), np.inf, dphi)
    dbias = float(np.abs(explained.bias - expected[0, :, -1]).max())
    total = explained.values.sum(axis=2) + explained.bias
    efficiency = np.abs(total - margin).max(axis=1)
    efficiency = np.where(np.isnan(efficiency), np.inf, efficiency)
    columns = served.fold(explained.values)
    changed = rank_changes(columns, served.fold(expected[:, :, :-1]))
    return ContributionsResult(
        name=name,
        rows=len(frame),
        max_abs_dphi=float(dphi.max()),
        max_abs_dbias=dbias,
        max_efficiency_error=float(efficiency.max()),
        rank_changes=int(changed.sum()),
        worst_row=int(np.argmax(dphi)),
    )


def format_contributions(results: list[ContributionsResult]) -> str:
    lines = [
        f"{'contributions':<14}{'rows':>9}{'max |dphi|':>12}{'|dbias|':>10}{'efficiency':>12}"
        f"{'top-3 moved':>13}  result"
    ]
    for r in results:
        if r.error is not None:
            lines.append(
                f"{r.name:<14}{'-':>9}{'-':>12}{'-':>10}{'-':>12}{'-':>13}  FAIL: {r.error}"
            )
            continue
        lines.append(
            f"{r.name:<14}{r.rows:>9}{r.max_abs_dphi:>12.3g}{r.max_abs_dbias:>10.3g}"
            f"{r.max_efficiency_error:>12.3g}{r.rank_changes:>13}  {'ok' if r.passed else 'FAIL'}"
        )
    return "\n".join(lines)
