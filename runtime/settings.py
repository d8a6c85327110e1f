"""Serving settings: environment variables, read once at start-up and passed in.

| variable | default | meaning |
|---|---|---|
| `MODEL_URI` | (required) | version directory or `.onnx` file: path, `file://`, `http(s)://` |
| `MODEL_SHA256` | unset | pin: the `.onnx` file's SHA-256 must equal this |
| `TABSHIP_MANIFEST_URI` | unset | manifest.json location when it is not beside the model |
| `TABSHIP_ALLOW_UNGATED` | `0` | `1` serves a model whose parity.status is not "passed" |
| `TABSHIP_HOST` / `TABSHIP_PORT` | `127.0.0.1` / `8000` | listen address |
| `TABSHIP_GRPC_PORT` | unset | also serve the Open Inference Protocol over gRPC on this port (grpc extra) |
| `TABSHIP_MAX_BODY_BYTES` | `1048576` | larger request bodies get 413 |
| `TABSHIP_MAX_ROWS` | `1000` | more rows in one request get 413 |
| `TABSHIP_MAX_PROBLEMS` | `1000` | problems listed in one 422 body (the total is always given) |
| `TABSHIP_EXTRA_COLUMNS` | `ignore` | columns not in the manifest: `ignore` (and count) or `reject` (422) |
| `TABSHIP_REQUEST_TIMEOUT_S` | `10` | per-request deadline (504) |
| `TABSHIP_MAX_INFLIGHT` | `256` | scoring requests admitted at once (counted once the body is read); beyond: 503 + Retry-After |
| `TABSHIP_MAX_INFLIGHT_ROWS` | `4096` | rows admitted at once, summed over requests; beyond: 503 (a lone request is always admitted) |
| `TABSHIP_HEADER_TIMEOUT_S` | `5` | a request head must arrive whole within this (connection closed with 408) |
| `TABSHIP_BODY_TIMEOUT_S` | `5` | a request body must arrive whole within this (408, connection closed) |
| `TABSHIP_KEEPALIVE_S` | `5` | idle keep-alive connections are closed after this |
| `TABSHIP_KEEPALIVE_MAX_REQUESTS` | `1000` | requests on one connection before it is closed (`Connection: close`) |
| `TABSHIP_MAX_CONNECTIONS` | `1000` | open client connections; beyond: 503 and closed at once |
| `TABSHIP_RETRY_AFTER_S` | `1` | Retry-After sent with 503 |
| `TABSHIP_BATCHING` | `1` | combine concurrent requests into one inference call |
| `TABSHIP_BATCH_MAX_ROWS` | `64` | rows per combined inference call |
| `TABSHIP_BATCH_WAIT_MS` | `2` | longest wait for companions already being read (never for a lone request) |
| `TABSHIP_ORT_THREADS` | `1` | onnxruntime intra-op threads (0 = onnxruntime's choice) |
| `TABSHIP_SHUTDOWN_TIMEOUT_S` | `30` | on SIGTERM, longest wait for in-flight requests |
| `TABSHIP_DRAIN_S` | `0` | on SIGTERM, seconds to keep serving with readiness false first |
| `TABSHIP_FETCH_CONNECT_TIMEOUT_S` | `5` | model download: connect timeout |
| `TABSHIP_FETCH_READ_TIMEOUT_S` | `30` | model download: timeout of each read |
| `TABSHIP_FETCH_MAX_BYTES` | `536870912` | model download (and local file) byte cap |
| `TABSHIP_FETCH_TIMEOUT_S` | `300` | model download: deadline for each whole download, however the server trickles |
| `TABSHIP_FETCH_MIN_BYTES_PER_S` | `10240` | model download: slower than this over a read-timeout stretch is refused (0: off) |
| `TABSHIP_FETCH_REDIRECT_HOSTS` | unset | comma-separated hosts (`name`, `name:port`, `*.domain`) redirects may lead to besides the same scheme + host + port |
| `TABSHIP_TRUSTED_KEYS` | unset | comma-separated files of Ed25519 public keys: a valid signature (`manifest.sig`) becomes mandatory (sign extra) |
| `TABSHIP_SIGNATURE_URI` | unset | manifest.sig location when it is not beside the manifest (a presigned URL) |
| `TABSHIP_LOG_LEVEL` | `info` | uvicorn / tabship log level |
| `TABSHIP_TESTONLY_SCORE_DELAY_MS` | `0` | TESTS ONLY: sleep before every inference call |
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any


class SettingsError(ValueError):
    pass


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


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(f"{value} is not a TCP port")
    return value


@dataclass(frozen=True)
class Settings:
    model_uri: str | None = None
    model_sha256: str | None = None
    manifest_uri: str | None = None
    allow_ungated: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    grpc_port: int | None = None
    max_body_bytes: int = 1_048_576
    max_rows: int = 1000
    max_problems: int = 1000
    extra_columns: str = "ignore"
    request_timeout_s: float = 10.0
    max_inflight: int = 256
    max_inflight_rows: int = 4096
    header_timeout_s: float = 5.0
    body_timeout_s: float = 5.0
    keepalive_s: float = 5.0
    keepalive_max_requests: int = 1000
    max_connections: int = 1000
    retry_after_s: int = 1
    batching: bool = True
    batch_max_rows: int = 64
    batch_wait_ms: float = 2.0
    ort_threads: int = 1
    shutdown_timeout_s: float = 30.0
    drain_s: float = 0.0
    fetch_connect_timeout_s: float = 5.0
    fetch_read_timeout_s: float = 30.0
    fetch_max_bytes: int = 536_870_912
    fetch_timeout_s: float = 300.0
    fetch_min_bytes_per_s: int = 10240
    fetch_redirect_hosts: tuple[str, ...] = ()
    trusted_keys: tuple[str, ...] = ()
    signature_uri: str | None = None
    log_level: str = "info"
    testonly_score_delay_ms: float = 0.0

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
    "ort_threads": _non_negative_int,
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
    "log_level": lambda t: t.strip().lower(),
    "testonly_score_delay_ms": _non_negative_float,
}


def variable_of(field_name: str) -> str:
    return _VARIABLES[field_name]
