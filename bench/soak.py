"""The soak run of tests/runtime/test_soak.py, longer, by hand: starts `tabship serve` on
127.0.0.1 (on --model, or on the test fixture model written to a temporary directory), runs
tests/runtime/soak.py's mix at --concurrency for --seconds, prints the report as JSON and exits
non-zero on any failure or when RSS grew by more than --rss-growth-mb after the warm-up.

    .venv/bin/python bench/soak.py --seconds 600 [--concurrency 64] [--model VERSION_DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "runtime"))

from fixture_model import write_version  # noqa: E402
from soak import Mix, Oracle, Soak  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--model", type=Path, help="a gated version directory")
    parser.add_argument("--warmup", type=float, default=30.0)
    parser.add_argument("--body-timeout", type=float, default=5.0)
    parser.add_argument("--max-body-bytes", type=int, default=262144)
    parser.add_argument("--rss-growth-mb", type=float, default=25.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        version = args.model or write_version(
            Path(scratch), "shoppers-full", "20261126T070000000000Z-0a1b2c3d"
        )
        manifest = json.loads((version / "manifest.json").read_text())
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TABSHIP_")}
        env.update(
            TABSHIP_BODY_TIMEOUT_S=str(args.body_timeout),
            TABSHIP_MAX_BODY_BYTES=str(args.max_body_bytes),
            TABSHIP_LOG_LEVEL="warning",
        )
        command = [sys.executable, "-m", "tabship.runtime.serve", "--model", str(version)]
        server = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)], env=env, cwd=REPO
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not become ready")
                time.sleep(0.1)
            settings = httpx.get(f"{url}/openapi.json").json()
            max_rows = settings["paths"]["/v1/predict"]["post"]["requestBody"]["content"][
                "application/json"
            ]["schema"]["anyOf"][1]["maxItems"]
            mix = Mix(Oracle(version), max_rows=max_rows, max_body_bytes=args.max_body_bytes)
            soak = Soak(
                url,
                server.pid,
                mix,
                model_name=manifest["name"],
                seconds=args.seconds,
                concurrency=args.concurrency,
                body_timeout_s=args.body_timeout,
                warmup_s=args.warmup,
            )
            report = asyncio.run(soak.run())
        finally:
            server.terminate()
            server.wait(timeout=60)
    summary = report.summary()
    summary["rss_growth_bound_mb"] = args.rss_growth_mb
    print(json.dumps(summary, indent=1))
    return 0 if not report.failures and report.rss_growth_mb < args.rss_growth_mb else 1


if __name__ == "__main__":
    sys.exit(main())
