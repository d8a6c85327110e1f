"""`tabship score --explain`: each scored row's contributions (margin scale, per column, the
bias last) as `contribution_<column>` columns (multiclass: `contribution_<class>_<column>`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from tabship.contract.explanations import BIAS
from tabship.runtime.batch.rejects import from_numpy
from tabship.runtime.explain.explainer import Contributions
from tabship.runtime.model.session import Model


class ExplainError(ValueError):
    pass


def contribution_names(model: Model) -> list[str]:
    explainer = model.explainer
    if explainer is None:
        raise ExplainError(
            f"{model.name} {model.version} carries no explainer (exported before explanations "
            "existed): re-export it to use --explain"
        )
    return model.target.contribution_names([*explainer.columns, BIAS])


def with_contributions(schema: pa.Schema, model: Model) -> pa.Schema:
    names = contribution_names(model)
    clash = sorted(set(names) & set(schema.names))
    if clash:
        raise ExplainError(f"output columns {clash[:5]} would appear twice (rename the keys)")
    return pa.schema([*schema, *(pa.field(n, pa.float64()) for n in names)])


def contribution_arrays(explained: Contributions | None, model: Model) -> Sequence[pa.Array]:
    """The columns of with_contributions' fields, for the scored rows (none: zero rows)."""
    width = len(contribution_names(model))
    if explained is None:
        return [from_numpy(np.empty(0, dtype=np.float64), pa.float64())] * width
    values, bias = explained.values, explained.bias
    rows, scores = values.shape[0], values.shape[1]
    full = np.concatenate([values, np.broadcast_to(bias, (rows, scores))[..., None]], axis=2)
    flat = full.reshape(rows, -1)
    return [
        from_numpy(np.ascontiguousarray(flat[:, i]), pa.float64()) for i in range(flat.shape[1])
    ]
