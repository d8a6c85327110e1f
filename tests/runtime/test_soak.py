"""One minute of mixed traffic at c=64 against a real `tabship serve` (tests/runtime/soak.py
says what is sent and checked; bench/soak.py runs it longer by hand).

Bounds: no failure at all (every status the one its kind must get, or a declared 503/504;
every 200 equal to onnxruntime; /metrics equal to what was sent), and RSS growth after the
warm-up (the first 15 s) under RSS_GROWTH_MB: measured at ~1-3 MB over a minute, so the bound
catches a per-request leak (64 bytes a request is ~1.5 MB a minute here) only when it is gross,
and a longer run by hand (bench/soak.py --seconds 600) is the sharper check.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import NAME
from soak import Mix, Oracle, Soak

pytestmark = [pytest.mark.server, pytest.mark.slow]

SECONDS = 60.0
RSS_GROWTH_MB = 25.0
BODY_TIMEOUT_S = 5.0  # the default: drip-fed bodies take a tenth of it
MAX_BODY_BYTES = 262144


def test_soak_one_minute(start_server: Any, version_a: Path) -> None:
    server = start_server(
        version_a,
        env={
            "TABSHIP_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
            "TABSHIP_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
        },
    )
    mix = Mix(Oracle(version_a), max_rows=1000, max_body_bytes=MAX_BODY_BYTES)
    soak = Soak(
        server.url,
        server.process.pid,
        mix,
        model_name=NAME,
        seconds=SECONDS,
        concurrency=64,
        body_timeout_s=BODY_TIMEOUT_S,
        warmup_s=15.0,
    )
    report = asyncio.run(soak.run())
    summary = report.summary()
    print(json.dumps(summary, indent=1))
    assert report.failures == [], summary
    assert all(report.sent[kind] > 0 for kind in ("valid_v1", "drip", "too_slow", "too_large"))
    assert report.compared_rows > 1000, summary
    assert report.metrics_delta == report.expected_delta
    assert report.rss_growth_mb < RSS_GROWTH_MB, summary
    assert "Traceback" not in server.log, server.log[-5000:]
