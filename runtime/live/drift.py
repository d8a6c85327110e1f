"""Drift per column on the server: the scored rows counted against the manifest's training
reference (tabship/contract/drift.py) on a thread of its own, over a rolling window, published
as gauges in /metrics (label `column`: the model's own columns only), GET /v1/drift and the
model page. `tabship drift VERSION DATA` computes the same figures with the same code.

The window: counts go into blocks of a quarter of TABSHIP_DRIFT_WINDOW_ROWS; the figures cover
the current block and the three before it (between 3/4 and 1 window of the latest rows, plus
at most one request's rows)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from tabship.contract.drift import ColumnCounts, DriftReference
from tabship.contract.manifest import NUMERIC
from tabship.runtime.live.tap import Observed
from tabship.runtime.live.worker import BoundedWorker
from tabship.runtime.model.session import Model
from tabship.runtime.settings import Settings

BLOCKS = 4
_GAUGES = {
    "psi": "Population stability index of the column against its training distribution.",
    "missing_rate": "Share of the window's rows where the column is missing.",
    "out_of_range_rate": "Share of the window's rows outside the training min..max (numeric).",
    "unseen_rate": "Share of the window's rows with a category unseen in training (categorical).",
}


class RollingCounts:
    """Counts of the latest rows in BLOCKS blocks (thread-safe: the worker adds, readers sum)."""

    def __init__(self, reference: DriftReference, window_rows: int) -> None:
        self.reference = reference
        self.block_rows = max(1, window_rows // BLOCKS)
        self._done: deque[list[ColumnCounts]] = deque(maxlen=BLOCKS - 1)
        self._current = reference.empty()
        self._current_rows = 0
        self._lock = threading.Lock()

    def add(self, counts: list[ColumnCounts], rows: int) -> None:
        with self._lock:
            for mine, more in zip(self._current, counts, strict=True):
                mine.add(more)
            self._current_rows += rows
            if self._current_rows >= self.block_rows:
                self._done.append(self._current)
                self._current = self.reference.empty()
                self._current_rows = 0

    def total(self) -> list[ColumnCounts]:
        with self._lock:
            total = self.reference.empty()
            for block in [*self._done, self._current]:
                for mine, more in zip(total, block, strict=True):
                    mine.add(more)
            return total


class DriftMonitor:
    name = "drift"
    sample = 1.0

    def __init__(
        self,
        settings: Settings,
        model: Model,
        reference: DriftReference,
        registry: CollectorRegistry,
    ) -> None:
        self.reference = reference
        self.window = RollingCounts(reference, settings.drift_window_rows)
        positions = {entry["name"]: i for i, entry in enumerate(model.inputs)}
        self._sources = [
            (c.name, positions[c.name], np.float64 if c.kind == NUMERIC else object)
            for c in reference.columns
        ]
        self._dropped = Counter(
            "tabship_drift_dropped_rows",
            "Scored rows not counted for drift because its queue was full.",
            registry=registry,
        )
        self._errors = Counter(
            "tabship_drift_errors", "Rows drift counting failed on.", registry=registry
        )
        registry.register(_DriftCollector(self))
        self.worker: BoundedWorker[Observed] = BoundedWorker(
            "drift",
            self._handle,
            max_rows=max(settings.drift_window_rows, 10_000),
            on_drop=self._dropped.inc,
            on_error=lambda rows, error: self._errors.inc(rows),
        )

    def offer(self, item: Observed) -> None:
        self.worker.offer(item, item.n_rows)

    def close(self, timeout_s: float) -> None:
        self.worker.close(timeout_s)

    def _handle(self, items: list[Observed]) -> None:
        values = {
            name: np.concatenate([item.column(index, dtype) for item in items])
            for name, index, dtype in self._sources
        }
        rows = sum(item.n_rows for item in items)
        self.window.add(self.reference.count(values), rows)

    def figures(self) -> dict[str, dict[str, float | None]]:
        return self.reference.figures(self.window.total())

    def summary(self) -> dict[str, Any]:
        figures = self.figures()
        rows = int(next(iter(figures.values()), {}).get("rows") or 0)
        return {"window_rows": rows, "training_rows": self.reference.rows, "columns": figures}


class _DriftCollector(Collector):
    """Gauges computed when /metrics is read (the counts live in the window)."""

    def __init__(self, monitor: DriftMonitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[GaugeMetricFamily]:
        figures = self.monitor.figures()
        rows = GaugeMetricFamily(
            "tabship_drift_window_rows", "Rows the drift figures cover (the rolling window)."
        )
        rows.add_metric([], next(iter(figures.values()), {}).get("rows") or 0.0)
        yield rows
        for figure, doc in _GAUGES.items():
            family = GaugeMetricFamily(f"tabship_drift_{figure}", doc, labels=["column"])
            for column, values in figures.items():
                if figure in values:
                    value = values[figure]
                    family.add_metric([column], float("nan") if value is None else value)
            yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())
