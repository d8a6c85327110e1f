"""Shadow scoring: a second version (TABSHIP_SHADOW_MODEL_URI, verified like MODEL_URI) scores a
sample of the rows the served version scored, on a thread of its own, after the answer left.
Per row it records |P_served - P_shadow| (the positive class; multiclass: the largest
difference over the classes) and whether the two decisions differ, each at its own model's
threshold. The answer never changes: the shadow's output goes to /metrics, GET /v1/shadow and
the model page only."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from tabship.contract.errors import ModelRefused
from tabship.contract.manifest import NUMERIC
from tabship.runtime.live.tap import Observed
from tabship.runtime.live.worker import BoundedWorker
from tabship.runtime.model.schema import InputSchema
from tabship.runtime.model.session import Model
from tabship.runtime.settings import Settings

# |dP| buckets: equal (parity-gate close), float noise, then the disagreements that matter
DP_BUCKETS = (1e-6, 1e-4, 1e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


def load_shadow(settings: Settings, primary: Model) -> Model:
    """The shadow version, verified as MODEL_URI is (hash against its own manifest, parity
    status, signature when TABSHIP_TRUSTED_KEYS is set) and checked against the primary.
    The primary's pins (MODEL_SHA256, TABSHIP_MANIFEST_URI, TABSHIP_SIGNATURE_URI) are the
    primary's: the shadow is a version directory whose manifest.json vouches for it."""
    own = replace(settings, model_sha256=None, manifest_uri=None, signature_uri=None)
    try:
        shadow = Model.load(own, settings.shadow_model_uri)
    except ModelRefused as error:
        raise ModelRefused(f"shadow model: {error}") from None
    check_compatible(primary, shadow)
    return shadow


def check_compatible(primary: Model, shadow: Model) -> None:
    """The shadow must accept every row the primary accepts: each of its inputs is one of the
    primary's, of the same kind, and nullable wherever the primary's is. Same target."""
    served = {entry["name"]: entry for entry in primary.inputs}
    absent, kinds, nulls = [], [], []
    for entry in shadow.inputs:
        name = entry["name"]
        mine = served.get(name)
        if mine is None:
            absent.append(name)
        elif mine["kind"] != entry["kind"]:
            kinds.append(f"{name} ({mine['kind']} served, {entry['kind']} in the shadow)")
        elif mine["nullable"] and not entry["nullable"]:
            nulls.append(name)
    problems = []
    if absent:
        problems.append(f"columns the served model does not take: {absent}")
    if kinds:
        problems.append(f"columns of another kind: {kinds}")
    if nulls:
        problems.append(f"columns the shadow refuses missing and the served model allows: {nulls}")
    if (primary.classes or None) != (shadow.classes or None):
        problems.append(
            f"another target (served classes {primary.classes or 'binary'}, shadow "
            f"{shadow.classes or 'binary'})"
        )
    if problems:
        raise ModelRefused(
            f"shadow model {shadow.name} {shadow.version} cannot score what "
            f"{primary.name} {primary.version} accepts: " + "; ".join(problems)
        )


class ShadowStats:
    """What GET /v1/shadow and the page summarise (the thread writes, readers copy)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows = 0
        self.disagreements = 0
        self.errors = 0
        self.dropped = 0
        self.dp_sum = 0.0
        self.dp_max = 0.0
        self.buckets = [0] * (len(DP_BUCKETS) + 1)  # per bucket, not cumulative; last: > 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            cumulative, total = {}, 0
            for bound, count in zip((*DP_BUCKETS, float("inf")), self.buckets, strict=True):
                total += count
                cumulative["+Inf" if bound == float("inf") else f"{bound:g}"] = total
            return {
                "rows_compared": self.rows,
                "disagreements": self.disagreements,
                "disagreement_rate": self.disagreements / self.rows if self.rows else None,
                "errors": self.errors,
                "dropped_rows": self.dropped,
                "abs_dp": {
                    "mean": self.dp_sum / self.rows if self.rows else None,
                    "max": self.dp_max if self.rows else None,
                    "sum": self.dp_sum,
                    "buckets": cumulative,
                },
            }


class ShadowScorer:
    name = "shadow"

    def __init__(
        self, settings: Settings, primary: Model, shadow: Model, registry: CollectorRegistry
    ) -> None:
        self.sample = settings.shadow_sample
        self.primary = primary
        self.model = shadow
        self.stats = ShadowStats()
        positions = {entry["name"]: i for i, entry in enumerate(primary.inputs)}
        self._schema = InputSchema(shadow.inputs, max_problems=1 << 30)
        # (primary column index, dtype) per shadow input, in the shadow's order
        self._sources = [
            (positions[c.name], np.float64 if c.kind == NUMERIC else object)
            for c in self._schema.columns
        ]
        info = Gauge(
            "tabship_shadow_model_info",
            "The shadow version scored beside the served one.",
            ["name", "version", "sha256"],
            registry=registry,
        )
        info.labels(shadow.name, shadow.version, shadow.sha256).set(1)
        self._dp = Histogram(
            "tabship_shadow_abs_dp",
            "|P(served) - P(shadow)| per row the shadow scored (multiclass: largest over classes).",
            buckets=DP_BUCKETS,
            registry=registry,
        )
        self._rows = Counter(
            "tabship_shadow_rows", "Rows scored by the shadow and compared.", registry=registry
        )
        self._disagreements = Counter(
            "tabship_shadow_disagreements",
            "Rows whose shadow decision differs from the served one (each at its own threshold).",
            registry=registry,
        )
        self._errors = Counter(
            "tabship_shadow_errors", "Sampled rows the shadow failed to score.", registry=registry
        )
        self._dropped = Counter(
            "tabship_shadow_dropped_rows",
            "Sampled rows dropped because the shadow's queue was full.",
            registry=registry,
        )
        self.worker: BoundedWorker[Observed] = BoundedWorker(
            "shadow",
            self._handle,
            max_rows=settings.shadow_queue_rows,
            on_drop=self._count_drop,
            on_error=self._count_error,
        )

    def offer(self, item: Observed) -> None:
        self.worker.offer(item, item.n_rows)

    def close(self, timeout_s: float) -> None:
        self.worker.close(timeout_s)

    def _count_drop(self, rows: int) -> None:
        self._dropped.inc(rows)
        with self.stats.lock:
            self.stats.dropped += rows

    def _count_error(self, rows: int, error: BaseException) -> None:
        self._errors.inc(rows)
        with self.stats.lock:
            self.stats.errors += rows

    def _handle(self, items: list[Observed]) -> None:
        n = sum(item.n_rows for item in items)
        columns = {
            spec.name: np.concatenate([item.column(index, dtype) for item in items])
            for spec, (index, dtype) in zip(self._schema.columns, self._sources, strict=True)
        }
        masked = self._schema.mask_columns(columns, n)
        served_p = np.concatenate([item.picked(item.scores.probabilities) for item in items])
        served_d = np.concatenate([item.picked(item.scores.decisions) for item in items])
        good = masked.good
        refused = n - int(good.sum())
        if refused:
            self._count_error(refused, ValueError("rows the shadow's schema refuses"))
        if not good.any():
            return
        scores = self.model.score(masked.feeds)
        served_p, served_d = served_p[good], served_d[good]
        diff = np.abs(served_p.astype(np.float64) - scores.probabilities.astype(np.float64))
        dp = self.model.target.largest_difference(diff)
        differ = int(np.count_nonzero(served_d != scores.decisions))
        for value in dp.tolist():
            self._dp.observe(value)
        self._rows.inc(len(dp))
        self._disagreements.inc(differ)
        counts = np.bincount(
            np.searchsorted(np.asarray(DP_BUCKETS), dp, side="left"), minlength=len(DP_BUCKETS) + 1
        )
        with self.stats.lock:
            stats = self.stats
            stats.rows += len(dp)
            stats.disagreements += differ
            stats.dp_sum += float(dp.sum())
            stats.dp_max = max(stats.dp_max, float(dp.max()))
            stats.buckets = [a + int(b) for a, b in zip(stats.buckets, counts, strict=True)]
