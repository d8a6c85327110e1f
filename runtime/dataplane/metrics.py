"""The server's metrics, through prometheus_client: the metric names and labels the hand-written
exposition had (dashboards keep working), plus the process, platform and GC collectors,
OpenMetrics when the scraper asks for it (Accept), and prometheus_client's multi-process mode
when PROMETHEUS_MULTIPROC_DIR is set (several workers writing one directory).

Every label value comes from a closed set, so no request can grow /metrics: methods outside
METHODS are `other`, routes are the app's own templates (or `unmatched`), columns are the
model's (or `_row` / `_other`), reasons are REJECT_REASONS, statuses are the ones the app sends.
Updated from the event loop thread only; children are cached per label tuple (bounded).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import prometheus_client
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
# GRPC: the label the gRPC listener (runtime/grpc/server.py) records its calls under.
METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "GRPC"}
)
REJECT_REASONS = (
    "overloaded",
    "deadline",
    "body_too_large",
    "too_many_rows",
    "body_timeout",
    "header_timeout",
    "too_many_connections",
    "bad_http",
)
# The old exposition had no *_created samples; dashboards and the tests read the same lines.
prometheus_client.disable_created_metrics()


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    def __init__(
        self, model_name: str, model_version: str, sha256: str, columns: list[str]
    ) -> None:
        self.columns = frozenset(columns)
        self.registry = registry = CollectorRegistry()
        if multiprocess_dir() is None:  # per-process collectors mean nothing summed over workers
            prometheus_client.ProcessCollector(registry=registry)
            prometheus_client.PlatformCollector(registry=registry)
            prometheus_client.GCCollector(registry=registry)
        info = Gauge(
            "tabship_model_info",
            "The model being served.",
            ["name", "version", "sha256"],
            registry=registry,
            multiprocess_mode="max",
        )
        info.labels(model_name, model_version, sha256).set(1)
        self._ready = Gauge(
            "tabship_ready",
            "1 when the model is verified, warmed up and not draining.",
            registry=registry,
            # several workers: 1 only when every live one is (an exited worker's file is
            # removed by the supervisor, runtime/workers/supervisor.py)
            multiprocess_mode="livemin",
        )
        self._inflight = Gauge(
            "tabship_inflight_requests",
            "Scoring requests being handled.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._requests = Counter(
            "tabship_http_requests",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self._latency = Histogram(
            "tabship_http_request_duration_seconds",
            "Time to answer, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._rows_scored = Counter("tabship_rows_scored", "Rows scored.", registry=registry)
        self._inference_calls = Counter(
            "tabship_inference_calls",
            "onnxruntime calls (one per combined batch).",
            registry=registry,
        )
        self._batch_rows = Histogram(
            "tabship_inference_batch_rows",
            "Rows per onnxruntime call.",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self._validation_failures = Counter(
            "tabship_validation_failures",
            "Requests refused for invalid rows.",
            registry=registry,
        )
        self._problems = Counter(
            "tabship_validation_problems",
            "Problems found in refused rows, by column.",
            ["column"],
            registry=registry,
        )
        self._unseen = Counter(
            "tabship_unseen_categories",
            "Accepted values of a category unknown to the model.",
            ["column"],
            registry=registry,
        )
        self._ignored = Counter(
            "tabship_ignored_columns",
            "Request columns the model does not read (ignored).",
            registry=registry,
        )
        self._rejected = Counter(
            "tabship_rejected_requests",
            "Requests refused before scoring, by reason.",
            ["reason"],
            registry=registry,
        )
        self._nonfinite = Counter(
            "tabship_nonfinite_outputs",
            "Probabilities that were not finite (sent as null).",
            registry=registry,
        )
        self._ignored_count = 0
        self.inference_calls = 0  # this process's, for in-process users
        self._nonfinite_count = 0
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._collectors: list[Collector] = []

    def add_collector(self, collector: Collector) -> None:
        """Metrics of another source, exposed with these (a worker's supervisor's counts)."""
        self._collectors.append(collector)
        self.registry.register(collector)

    # -- updates (event loop thread) --------------------------------------------------------

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self._requests.labels(route, method, str(status)),
                self._latency.labels(route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def invalid(self, columns: Iterable[str | None]) -> None:
        self._validation_failures.inc()
        counts: dict[str, int] = {}
        for column in columns:
            label = column if column in self.columns else ("_row" if column is None else "_other")
            counts[label] = counts.get(label, 0) + 1
        for label, n in counts.items():
            self._problems.labels(label).inc(n)

    def unseen(self, column: str, count: int) -> None:
        self._unseen.labels(column if column in self.columns else "_other").inc(count)

    def reject(self, reason: str) -> None:
        self._rejected.labels(reason if reason in REJECT_REASONS else "other").inc()

    def batch(self, rows: int) -> None:
        self.inference_calls += 1
        self._inference_calls.inc()
        self._batch_rows.observe(float(rows))

    def scored(self, rows: int) -> None:
        self._rows_scored.inc(rows)

    # Kept as attributes that accept `+=` (the OIP routes add to them).
    @property
    def ignored_columns(self) -> int:
        return self._ignored_count

    @ignored_columns.setter
    def ignored_columns(self, value: int) -> None:
        self._ignored.inc(max(0, value - self._ignored_count))
        self._ignored_count = value

    @property
    def nonfinite_outputs(self) -> int:
        return self._nonfinite_count

    @nonfinite_outputs.setter
    def nonfinite_outputs(self, value: int) -> None:
        self._nonfinite.inc(max(0, value - self._nonfinite_count))
        self._nonfinite_count = value

    def state(self, *, ready: bool, inflight: int) -> None:
        """The readiness and in-flight gauges; a worker sets them on every heartbeat, since
        /metrics is rendered by whichever worker is asked."""
        self._ready.set(int(ready))
        self._inflight.set(inflight)

    # -- exposition -------------------------------------------------------------------------

    def render(self, *, ready: bool, inflight: int, accept: str | None = None) -> tuple[bytes, str]:
        """(body, content type): Prometheus text 0.0.4, or OpenMetrics when `accept` asks."""
        self.state(ready=ready, inflight=inflight)
        registry: CollectorRegistry = self.registry
        if multiprocess_dir() is not None:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            for collector in self._collectors:
                registry.register(collector)
        encoder, content_type = choose_encoder(accept or "")
        return encoder(registry), content_type
