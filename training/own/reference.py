"""The reference pipeline of a user's own pipeline, in tabship's shape.

Pipeline([("contract", Pipeline([("raw", RawColumns), ("steps", the user's steps)])),
("model", the user's XGBClassifier)]): the user's fitted objects untouched, so predict_proba
is the user's, while the gate, the report and the tree probes find "contract" and "model"
where tabship's own pipelines have them.
"""

from __future__ import annotations

from typing import Any

from sklearn.pipeline import Pipeline

from tabship.contract.manifest import CATEGORICAL
from tabship.training.own.contract import OwnColumn
from tabship.training.own.raw import RawColumns


def own_reference(pipeline: Pipeline, columns: list[OwnColumn]) -> Pipeline:
    raw = RawColumns(
        columns=[c.name for c in columns],
        categorical=[c.name for c in columns if c.kind == CATEGORICAL],
    ).fit(None)
    steps: Any = pipeline[:-1] if len(pipeline.steps) > 1 else "passthrough"
    contract = Pipeline([("raw", raw), ("steps", steps)])
    return Pipeline([("contract", contract), ("model", pipeline.steps[-1][1])])


def raw_columns(pipeline: Any) -> RawColumns | None:
    """The RawColumns step of an own reference pipeline, None for tabship's own pipelines."""
    steps = getattr(pipeline, "named_steps", {})
    contract = steps.get("contract")
    if isinstance(contract, Pipeline) and isinstance(contract.steps[0][1], RawColumns):
        return contract.steps[0][1]
    return None


def user_steps(pipeline: Pipeline) -> Any:
    """The user's preprocessing inside an own reference pipeline ("passthrough" if none)."""
    return pipeline.named_steps["contract"].named_steps["steps"]
