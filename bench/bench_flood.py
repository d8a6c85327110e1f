"""/healthz under a flood of large batches (issue 16 item 3), by hand; before/after figures.

Starts `tabship serve` on 127.0.0.1 (the code in --source, default this checkout, so that
another checkout's code is measured with the same command), on --model or on the test fixture
model, then:
  1. baseline: /healthz probed every 50 ms for --baseline seconds, no other traffic;
  2. flood: --concurrency clients each POST --rows-row batches back to back for --duration
     seconds (a fresh connection each) while /healthz is probed the same way;
  3. idle: RSS again --idle seconds after the flood.
The prober is its own process (blocking http.client), so the flood's client loop does not
delay it. Prints JSON: /healthz p50/p95/max for baseline and flood (and their ratio), flood
answers by status, the deadline overshoot (slowest 504 minus TABSHIP_REQUEST_TIMEOUT_S, and
the slowest answer of all minus the deadline) and the server's RSS before, at peak, after.

With --health-port, the server also listens on TABSHIP_HEALTH_PORT and /healthz is probed there
too, alone and during the flood (alongside the main port's probes).

    .venv/bin/python bench/bench_flood.py [--concurrency 400] [--duration 20] [--source /work/main]
        [--health-port]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "runtime"))

from fixture_model import write_version  # noqa: E402

SERVE = [sys.executable, "-m", "tabship.runtime.serve"]
ROW: dict[str, Any] = {
    "PageValues": 10,
    "ExitRates": 0.05,
    "Administrative": 3,
    "Month": "nov",
    "VisitorType": "new_visitor",
    "OperatingSystems": "2",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _wait_ready(port: int) -> None:
    for _ in range(600):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)


def _wait_listening(port: int) -> None:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)


def _probe(port: int, seconds: float, out: Any) -> None:
    """In its own process: GET /healthz every 50 ms; latencies in seconds (inf: failed)."""
    latencies: list[float] = []
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        started = time.perf_counter()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", "/healthz")
            ok = connection.getresponse().status == 200
            connection.close()
        except OSError:
            ok = False
        latencies.append(time.perf_counter() - started if ok else float("inf"))
        time.sleep(0.05)
    out.send(latencies)


def _probes(port: int, seconds: float) -> tuple[multiprocessing.Process, Any]:
    parent, child = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.Process(target=_probe, args=(port, seconds, child))
    process.start()
    return process, parent


def _stats(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)  # noqa: E731
    return {
        "probes": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": pick(0.95),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


async def _post(port: int, body: bytes) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = (
            "POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + body)
        data = await reader.read()
    finally:
        writer.close()
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0


async def flood(port: int, concurrency: int, rows: int, seconds: float) -> dict[str, Any]:
    body = json.dumps([ROW] * rows).encode()
    stop = time.monotonic() + seconds
    statuses: Counter[int] = Counter()
    slowest: dict[int, float] = {}

    async def worker() -> None:
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                status = await asyncio.wait_for(_post(port, body), 120)
            except (OSError, TimeoutError):
                status = 0
            took = time.perf_counter() - started
            statuses[status] += 1
            slowest[status] = max(slowest.get(status, 0.0), took)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"by_status": dict(statuses), "slowest_s": {k: round(v, 2) for k, v in slowest.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=400)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--baseline", type=float, default=5.0)
    parser.add_argument("--idle", type=float, default=5.0)
    parser.add_argument("--deadline", type=float, default=10.0, help="TABSHIP_REQUEST_TIMEOUT_S")
    parser.add_argument("--model", type=Path)
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    parser.add_argument("--source", type=Path, default=REPO, help="checkout whose runtime/ runs")
    parser.add_argument(
        "--reference",
        action="store_true",
        help="also probe a trivial server process (bench/trivial_server.py) during the flood",
    )
    parser.add_argument(
        "--health-port",
        action="store_true",
        help="also serve and probe /healthz on TABSHIP_HEALTH_PORT (a checkout that has it)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        version = args.model or write_version(
            Path(scratch), "shoppers-full", "20261126T070000000000Z-0a1b2c3d"
        )
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TABSHIP_")}
        env.update(TABSHIP_LOG_LEVEL="warning", TABSHIP_REQUEST_TIMEOUT_S=str(args.deadline))
        env.update(item.split("=", 1) for item in args.env)
        health = _free_port() if args.health_port else None
        if health is not None:
            env["TABSHIP_HEALTH_PORT"] = str(health)
        server = subprocess.Popen(
            [*SERVE, "--model", str(version), "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=args.source,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_ready(port)
            rss_start = _rss_mb(server.pid)
            process, pipe = _probes(port, args.baseline)
            baseline = pipe.recv()
            process.join()
            if health is not None:  # the probe port, alone, then alongside the main port's
                process, pipe = _probes(health, args.baseline)
                health_baseline = pipe.recv()
                process.join()
                health_process, health_pipe = _probes(health, args.duration)
            if args.reference:  # the machine's own cost of a probe, in another process
                reference_port = _free_port()
                reference = subprocess.Popen(
                    [sys.executable, str(REPO / "bench" / "trivial_server.py"), str(reference_port)]
                )
                _wait_listening(reference_port)
                reference_process, reference_pipe = _probes(reference_port, args.duration)
            process, pipe = _probes(port, args.duration)
            peak = [rss_start]

            async def flood_and_sample() -> dict[str, Any]:
                task = asyncio.create_task(flood(port, args.concurrency, args.rows, args.duration))
                while not task.done():
                    peak.append(_rss_mb(server.pid))
                    await asyncio.sleep(0.5)
                return await task

            flooded = asyncio.run(flood_and_sample())
            during = pipe.recv()
            process.join()
            if health is not None:
                health_during = health_pipe.recv()
                health_process.join()
            if args.reference:
                reference_during = reference_pipe.recv()
                reference_process.join()
                reference.terminate()
                reference.wait(timeout=10)
            rss_flood_end = _rss_mb(server.pid)
            time.sleep(args.idle)
            rss_idle = _rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=60)
    base, under = _stats(baseline), _stats(during)
    slowest = flooded["slowest_s"]
    probe_port: dict[str, Any] = {}
    if args.reference:
        probe_port["trivial_server_flood"] = _stats(reference_during)
    if health is not None:
        probe_port["health_port_baseline"] = _stats(health_baseline)
        probe_port["health_port_flood"] = _stats(health_during)
    print(
        json.dumps(
            {
                "source": str(args.source),
                "concurrency": args.concurrency,
                "rows": args.rows,
                "deadline_s": args.deadline,
                "healthz_baseline": base,
                "healthz_flood": under,
                "healthz_p95_ratio": round(under["p95_ms"] / max(base["p95_ms"], 0.1), 1),
                **probe_port,
                "flood": flooded,
                "deadline_overshoot_504_s": (
                    round(slowest[504] - args.deadline, 2) if 504 in slowest else None
                ),
                "slowest_answer_minus_deadline_s": round(max(slowest.values()) - args.deadline, 2),
                "rss_mb": {
                    "start": rss_start,
                    "peak": max(peak),
                    "flood_end": rss_flood_end,
                    "idle": rss_idle,
                },
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
