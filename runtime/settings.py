"""Serving settings: environment variables, read once at start-up and passed in.

Each field carries its own documentation (`_setting`); the table in docs/serving.md is
generated from it (`markdown_table`, scripts/settings_table.py) and a test fails when they differ.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from tabship.runtime.workers.cpus import available_cpus


class SettingsError(ValueError):
    pass


# Scoring runs on one intra-op thread, always: with more, onnxruntime splits the trees' sums
# differently for different batch sizes, so a row's probability moves in its last bits with the
# traffic around it (124 of 160 concurrent requests, issue 25) and a label at the threshold can
# flip. The parity gate proves the graph on one thread; servers and batch score the same way.
SCORING_THREADS = 1
THREADS_REFUSED = (
    "must be 1: with more intra-op threads a row's probability depends on how many rows share "
    "its call, and the parity gate proves one thread; scale out with replicas or workers"
)


def _flag(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"{text!r} is not a boolean (use 1 or 0)")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"{value} is not >= 1")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"{value} is not >= 0")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{text!r} is not a finite number >= 0")
    return value


def _positive_float(text: str) -> float:
    value = _non_negative_float(text)
    if value == 0:
        raise ValueError("must be > 0")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise ValueError(f"{text!r} is not a share between 0 and 1")
    return value


def _extra_columns(text: str) -> str:
    if text not in {"ignore", "reject"}:
        raise ValueError(f"{text!r} is not 'ignore' or 'reject'")
    return text


def _sha256(text: str) -> str | None:
    text = text.strip().lower()
    if not text:
        return None
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError("not a 64-digit hex SHA-256")
    return text


def _scoring_threads(text: str) -> int:
    value = _non_negative_int(text)
    if value != SCORING_THREADS:
        raise ValueError(THREADS_REFUSED)
    return value


def _optional(text: str) -> str | None:
    return text.strip() or None


def _list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _hosts(text: str) -> tuple[str, ...]:
    hosts = _list(text)
    for host in hosts:
        name = host.rsplit(":", 1)[0] if host.rsplit(":", 1)[-1].isdigit() else host
        bare = name.removeprefix("*.").strip("[]")
        if not bare or "/" in host or "@" in host or "*" in bare or " " in host:
            raise ValueError(f"{host!r} is not a host name (name, name:port or *.domain)")
    return hosts


def parse_workers(text: str) -> int | None:
    """`--workers` / TABSHIP_WORKERS: N >= 1, or `auto` (the CPUs this process may use)."""
    text = text.strip().lower()
    if not text:
        return None
    if text == "auto":
        return available_cpus()
    try:
        return _positive_int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of workers >= 1 nor 'auto'") from None


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(f"{value} is not a TCP port")
    return value


def _setting(default: Any, doc: str, shown: str | None = None) -> Any:
    """A settings field with its documentation; `shown` replaces the default in the table."""
    return dataclasses.field(default=default, metadata={"doc": doc, "shown": shown})


@dataclass(frozen=True)
class Settings:
    model_uri: str | None = _setting(
        None,
        "version directory or `.onnx` file: path, `file://`, `http(s)://`, `s3://`",
        shown="(required)",
    )
    model_sha256: str | None = _setting(None, "pin: the `.onnx` file's SHA-256 must equal this")
    manifest_uri: str | None = _setting(
        None, "manifest.json location when it is not beside the model"
    )
    allow_ungated: bool = _setting(False, '`1` serves a model whose parity.status is not "passed"')
    host: str = _setting("127.0.0.1", "listen address (`--host`)")
    port: int = _setting(8000, "listen port (`--port`)")
    grpc_port: int | None = _setting(
        None, "also serve the Open Inference Protocol over gRPC on this port (grpc extra)"
    )
    health_port: int | None = _setting(
        None,
        "also answer `/healthz` and `/readyz` on this port, from a process of their own: probes "
        "stay fast however loaded the main port is (point Kubernetes probes here)",
    )
    health_stall_s: float = _setting(
        5.0,
        "health port: `/healthz` and `/readyz` answer 503 `stalled` when the serving event "
        "loop has not run for this long",
    )
    workers: int | None = _setting(
        None,
        "serve with this many worker processes sharing the ports, each with its own session, "
        "batcher and admission, under one supervisor (`--workers`; `auto`: the CPUs this "
        "process may use, cgroup quota included); unset: one process, no supervisor",
    )
    max_body_bytes: int = _setting(1_048_576, "larger request bodies get 413")
    max_rows: int = _setting(1000, "more rows in one request get 413")
    max_problems: int = _setting(
        1000, "problems listed in one 422 body (the total is always given)"
    )
    extra_columns: str = _setting(
        "ignore", "columns not in the manifest: `ignore` (and count) or `reject` (422)"
    )
    request_timeout_s: float = _setting(10.0, "per-request deadline, body read included (504)")
    max_inflight: int = _setting(
        256, "scoring requests admitted at once; beyond: 503 + Retry-After"
    )
    max_inflight_rows: int = _setting(
        4096,
        "rows admitted at once, summed over requests; beyond: 503 (a lone request is always admitted)",
    )
    header_timeout_s: float = _setting(
        5.0, "a request head must arrive whole within this (connection closed with 408)"
    )
    body_timeout_s: float = _setting(
        5.0, "a request body must arrive whole within this (408, connection closed)"
    )
    keepalive_s: float = _setting(5.0, "idle keep-alive connections are closed after this")
    keepalive_max_requests: int = _setting(
        1000, "requests on one connection before it is closed (`Connection: close`)"
    )
    max_connections: int = _setting(1000, "open client connections; beyond: 503 and closed at once")
    retry_after_s: int = _setting(1, "Retry-After sent with 503")
    batching: bool = _setting(True, "combine concurrent requests into one inference call")
    batch_max_rows: int = _setting(
        64, "rows per combined inference call (a bigger request runs alone)"
    )
    batch_wait_ms: float = _setting(
        2.0, "longest wait for companions already being read (never for a lone request)"
    )
    ort_threads: int = _setting(
        1,
        "onnxruntime intra-op threads: 1 only (more make a row's bits depend on its batch; the "
        "gate proves 1; scale out with replicas)",
    )
    shutdown_timeout_s: float = _setting(30.0, "on SIGTERM, longest wait for in-flight requests")
    drain_s: float = _setting(0.0, "on SIGTERM, seconds to keep serving with readiness false first")
    fetch_connect_timeout_s: float = _setting(5.0, "model download: connect timeout")
    fetch_read_timeout_s: float = _setting(30.0, "model download: timeout of each read")
    fetch_max_bytes: int = _setting(536_870_912, "model download (and local file) byte cap")
    fetch_timeout_s: float = _setting(
        300.0,
        "model download: deadline of each whole download (connection, redirects, headers, "
        "body), however the server trickles",
    )
    fetch_min_bytes_per_s: int = _setting(
        10240,
        "model download: refused when fewer bytes per second arrive over a "
        "`TABSHIP_FETCH_READ_TIMEOUT_S` stretch (0: off)",
    )
    fetch_redirect_hosts: tuple[str, ...] = _setting(
        (),
        "comma-separated hosts a redirect may lead to besides the same scheme + host + port: "
        "`name` (any port), `name:port`, `*.domain`, `[v6]`",
        shown="unset",
    )
    trusted_keys: tuple[str, ...] = _setting(
        (),
        "comma-separated files of Ed25519 public keys: every version must carry a valid "
        "`manifest.sig` by one of them (sign extra)",
        shown="unset",
    )
    signature_uri: str | None = _setting(
        None,
        "`manifest.sig` location when it is not beside the manifest (e.g. a presigned URL to go "
        "with `TABSHIP_MANIFEST_URI`)",
    )
    shadow_model_uri: str | None = _setting(
        None,
        "a second version scored beside the served one, off the request path (verified as "
        "`MODEL_URI`; its inputs must accept the served model's); answers never change",
    )
    shadow_sample: float = _setting(1.0, "share of scored rows the shadow also scores (0 to 1)")
    shadow_queue_rows: int = _setting(
        10_000, "rows waiting for the shadow; beyond: dropped and counted"
    )
    capture_uri: str | None = _setting(
        None,
        "keep scored rows as Parquet files in this folder or `s3://bucket/prefix` (batch "
        "extra; docs/live.md)",
    )
    capture_sample: float = _setting(1.0, "share of scored rows captured (0 to 1)")
    capture_exclude: tuple[str, ...] = _setting(
        (),
        "comma-separated columns never captured (besides those the declaration marks `sensitive`)",
        shown="unset",
    )
    capture_file_bytes: int = _setting(
        16_777_216, "a capture file is closed at this size and a new one begun"
    )
    capture_file_age_s: float = _setting(60.0, "... or when its first row is this old")
    capture_budget_bytes: int = _setting(
        1_073_741_824,
        "capture files may use this much in all; past it capture stops and counts what it "
        "drops (scoring never waits)",
    )
    capture_queue_rows: int = _setting(
        100_000, "rows waiting for the capture writer; beyond: dropped and counted"
    )
    drift: bool = _setting(
        False, "`1` counts every scored row per column against the manifest's training reference"
    )
    drift_window_rows: int = _setting(
        10_000, "drift figures cover about this many of the latest rows (in four blocks)"
    )
    log_level: str = _setting(
        "info", "uvicorn / tabship log level (no access log: metrics count requests)"
    )
    testonly_score_delay_ms: float = _setting(
        0.0, "**tests only**: sleep before every inference call"
    )
    testonly_score_gate: str | None = _setting(
        None,
        "**tests only**: a file path; every inference call waits until it exists (at most "
        "60 s), so a test decides when a call ends",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            variable = _VARIABLES[field.name]
            if variable in env:
                try:
                    values[field.name] = _PARSERS[field.name](env[variable])
                except ValueError as error:
                    raise SettingsError(f"{variable}={env[variable]!r}: {error}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


_VARIABLES = {
    "model_uri": "MODEL_URI",
    "model_sha256": "MODEL_SHA256",
    **{
        f.name: f"TABSHIP_{f.name.upper()}"
        for f in fields(Settings)
        if f.name not in {"model_uri", "model_sha256"}
    },
}
_PARSERS: dict[str, Callable[[str], Any]] = {
    "model_uri": _optional,
    "model_sha256": _sha256,
    "manifest_uri": _optional,
    "allow_ungated": _flag,
    "host": str,
    "port": _port,
    "grpc_port": lambda t: _port(t) if t.strip() else None,
    "health_port": lambda t: _port(t) if t.strip() else None,
    "health_stall_s": _positive_float,
    "workers": parse_workers,
    "max_body_bytes": _positive_int,
    "max_rows": _positive_int,
    "max_problems": _positive_int,
    "extra_columns": _extra_columns,
    "request_timeout_s": _positive_float,
    "max_inflight": _positive_int,
    "max_inflight_rows": _positive_int,
    "header_timeout_s": _positive_float,
    "body_timeout_s": _positive_float,
    "keepalive_s": _positive_float,
    "keepalive_max_requests": _positive_int,
    "max_connections": _positive_int,
    "retry_after_s": _non_negative_int,
    "batching": _flag,
    "batch_max_rows": _positive_int,
    "batch_wait_ms": _non_negative_float,
    "ort_threads": _scoring_threads,
    "shutdown_timeout_s": _non_negative_float,
    "drain_s": _non_negative_float,
    "fetch_connect_timeout_s": _positive_float,
    "fetch_read_timeout_s": _positive_float,
    "fetch_max_bytes": _positive_int,
    "fetch_timeout_s": _positive_float,
    "fetch_min_bytes_per_s": _non_negative_int,
    "fetch_redirect_hosts": _hosts,
    "trusted_keys": _list,
    "signature_uri": _optional,
    "shadow_model_uri": _optional,
    "shadow_sample": _share,
    "shadow_queue_rows": _positive_int,
    "capture_uri": _optional,
    "capture_sample": _share,
    "capture_exclude": _list,
    "capture_file_bytes": _positive_int,
    "capture_file_age_s": _positive_float,
    "capture_budget_bytes": _positive_int,
    "capture_queue_rows": _positive_int,
    "drift": _flag,
    "drift_window_rows": _positive_int,
    "log_level": lambda t: t.strip().lower(),
    "testonly_score_delay_ms": _non_negative_float,
    "testonly_score_gate": _optional,
}


def variable_of(field_name: str) -> str:
    return _VARIABLES[field_name]


def _shown_default(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def markdown_table() -> str:
    """The settings table of docs/serving.md, from the fields' own metadata."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for setting in fields(Settings):
        shown = setting.metadata["shown"] or _shown_default(setting.default)
        shown = shown if shown in {"unset", "(required)"} else f"`{shown}`"
        lines.append(f"| `{_VARIABLES[setting.name]}` | {shown} | {setting.metadata['doc']} |")
    return "\n".join(lines) + "\n"
