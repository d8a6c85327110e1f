"""Prometheus text exposition (format 0.0.4), written by hand: no client library needed.
Updated only from the event loop thread, so plain integers suffice."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())


class Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts: dict[str, list[int]] = defaultdict(lambda: [0] * (len(buckets) + 1))
        self.sums: dict[str, float] = defaultdict(float)

    def observe(self, key: str, value: float) -> None:
        # the first bucket with value <= bound; past the last one: the +Inf slot
        self.counts[key][bisect_left(self.buckets, value)] += 1
        self.sums[key] += value

    def render(self, name: str, label_name: str | None) -> list[str]:
        lines = []
        for key in sorted(self.counts):
            counts = self.counts[key]
            prefix = f'{label_name}="{_escape(key)}",' if label_name else ""
            running = 0
            for bound, count in zip(self.buckets, counts, strict=False):
                running += count
                lines.append(f'{name}_bucket{{{prefix}le="{bound:g}"}} {running}')
            running += counts[-1]
            lines.append(f'{name}_bucket{{{prefix}le="+Inf"}} {running}')
            inner = prefix.rstrip(",")
            braces = f"{{{inner}}}" if inner else ""
            lines.append(f"{name}_sum{braces} {self.sums[key]:.9g}")
            lines.append(f"{name}_count{braces} {running}")
        return lines


class Metrics:
    def __init__(
        self, model_name: str, model_version: str, sha256: str, columns: list[str]
    ) -> None:
        self.model = _labels(name=model_name, version=model_version, sha256=sha256)
        self.columns = set(columns)
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.latency = Histogram(LATENCY_BUCKETS)
        self.batch_rows = Histogram(BATCH_BUCKETS)
        self.rows_scored = 0
        self.inference_calls = 0
        self.validation_failures = 0
        self.problems: dict[str, int] = defaultdict(int)
        self.unseen: dict[str, int] = defaultdict(int)
        self.ignored_columns = 0
        self.rejected: dict[str, int] = defaultdict(int)
        self.nonfinite_outputs = 0

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests[(route, method, status)] += 1
        self.latency.observe(route, seconds)

    def invalid(self, columns: list[str | None]) -> None:
        self.validation_failures += 1
        for column in columns:
            label = column if column in self.columns else ("_row" if column is None else "_other")
            self.problems[label] += 1

    def batch(self, requests: int, rows: int) -> None:
        self.inference_calls += 1
        self.batch_rows.observe("", float(rows))

    def render(self, *, ready: bool, inflight: int) -> str:
        out = [
            "# HELP tabship_model_info The model being served.",
            "# TYPE tabship_model_info gauge",
            f"tabship_model_info{{{self.model}}} 1",
            "# HELP tabship_ready 1 when the model is verified, warmed up and not draining.",
            "# TYPE tabship_ready gauge",
            f"tabship_ready {int(ready)}",
            "# HELP tabship_inflight_requests Scoring requests being handled.",
            "# TYPE tabship_inflight_requests gauge",
            f"tabship_inflight_requests {inflight}",
            "# HELP tabship_http_requests_total HTTP requests by route, method and status.",
            "# TYPE tabship_http_requests_total counter",
        ]
        for (route, method, status), count in sorted(self.requests.items()):
            out.append(
                f"tabship_http_requests_total{{{_labels(route=route, method=method, status=str(status))}}} {count}"
            )
        out += [
            "# HELP tabship_http_request_duration_seconds Time to answer, by route.",
            "# TYPE tabship_http_request_duration_seconds histogram",
            *self.latency.render("tabship_http_request_duration_seconds", "route"),
            "# HELP tabship_rows_scored_total Rows scored.",
            "# TYPE tabship_rows_scored_total counter",
            f"tabship_rows_scored_total {self.rows_scored}",
            "# HELP tabship_inference_calls_total onnxruntime calls (one per combined batch).",
            "# TYPE tabship_inference_calls_total counter",
            f"tabship_inference_calls_total {self.inference_calls}",
            "# HELP tabship_inference_batch_rows Rows per onnxruntime call.",
            "# TYPE tabship_inference_batch_rows histogram",
            *self.batch_rows.render("tabship_inference_batch_rows", None),
            "# HELP tabship_validation_failures_total Requests refused for invalid rows.",
            "# TYPE tabship_validation_failures_total counter",
            f"tabship_validation_failures_total {self.validation_failures}",
            "# HELP tabship_validation_problems_total Problems found in refused rows, by column.",
            "# TYPE tabship_validation_problems_total counter",
        ]
        out += [
            f"tabship_validation_problems_total{{{_labels(column=c)}}} {n}"
            for c, n in sorted(self.problems.items())
        ]
        out += [
            "# HELP tabship_unseen_categories_total Accepted values of a category unknown to the model.",
            "# TYPE tabship_unseen_categories_total counter",
        ]
        out += [
            f"tabship_unseen_categories_total{{{_labels(column=c)}}} {n}"
            for c, n in sorted(self.unseen.items())
        ]
        out += [
            "# HELP tabship_ignored_columns_total Request columns the model does not read (ignored).",
            "# TYPE tabship_ignored_columns_total counter",
            f"tabship_ignored_columns_total {self.ignored_columns}",
            "# HELP tabship_rejected_requests_total Requests refused before scoring, by reason.",
            "# TYPE tabship_rejected_requests_total counter",
        ]
        out += [
            f"tabship_rejected_requests_total{{{_labels(reason=r)}}} {n}"
            for r, n in sorted(self.rejected.items())
        ]
        out += [
            "# HELP tabship_nonfinite_outputs_total Probabilities that were not finite (sent as null).",
            "# TYPE tabship_nonfinite_outputs_total counter",
            f"tabship_nonfinite_outputs_total {self.nonfinite_outputs}",
        ]
        return "\n".join(out) + "\n"
