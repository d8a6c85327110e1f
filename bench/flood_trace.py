"""Where /healthz waits under a flood of large batches (issue 16 item 3), by hand.

Starts `tabship serve` (code of --source) with bench/flood_trace_site/sitecustomize.py loaded,
which timestamps each /healthz request inside uvicorn's protocol and times every event-loop
iteration. Probes /healthz (fresh connection, every 50 ms, CLOCK_MONOTONIC shared with the
server) alone and then under bench_flood.py's flood, and prints the latency split into:
connect -> connection_made (accept queue and the loop's turns to accept), connection_made ->
URL parsed (turns until the request's bytes are read), request read -> response sent (the ASGI
task and the app), sent -> client; plus loop iterations (wall, CPU of the loop thread, ready
callbacks) and CPU per server thread and of the flood client during the flood.

    .venv/bin/python bench/flood_trace.py [--concurrency 400] [--duration 10] [--source DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_flood  # noqa: E402
from bench_flood import write_version  # noqa: E402


def _probe(port: int, seconds: float, out: Any) -> None:
    times: list[tuple[float, float]] = []
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        started = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/healthz")
        connection.getresponse().read()
        connection.close()
        times.append((started, time.monotonic()))
        time.sleep(0.05)
    out.send(times)


def _probed(port: int, seconds: float) -> tuple[multiprocessing.Process, Any]:
    parent, child = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.Process(target=_probe, args=(port, seconds, child))
    process.start()
    return process, parent


def _q(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


def _split(client: list[tuple[float, float]], server: list[list[float]]) -> dict[str, Any]:
    parts: dict[str, list[float]] = {
        "connect_to_made": [],
        "made_to_url": [],
        "read_to_responded": [],
        "responded_to_client": [],
        "total": [],
    }
    for (sent, got), (made, url, read, responded) in zip(client, server, strict=True):
        parts["connect_to_made"].append(made - sent)
        parts["made_to_url"].append(url - made)
        parts["read_to_responded"].append(responded - read)
        parts["responded_to_client"].append(got - responded)
        parts["total"].append(got - sent)
    return {k: {"p50_ms": _q(v, 0.5), "p95_ms": _q(v, 0.95)} for k, v in parts.items()}


def _thread_cpu(pid: int) -> dict[str, float]:
    seconds: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/task/{task}/comm") as comm:
            name = comm.read().strip()
        seconds[f"{name}-{task}"] = (int(fields[11]) + int(fields[12])) / tick
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=400)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--deadline", type=float, default=1.0)
    parser.add_argument("--source", type=Path, default=HERE.parent)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        version = write_version(Path(scratch), "shoppers-full", "20261126T070000000000Z-0a1b2c3d")
        port, trace = bench_flood._free_port(), os.path.join(scratch, "trace.json")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TABSHIP_")}
        env.update(
            TABSHIP_LOG_LEVEL="warning",
            TABSHIP_REQUEST_TIMEOUT_S=str(args.deadline),
            PYTHONPATH=str(HERE / "flood_trace_site"),
            HTRACE_FILE=trace,
        )
        serve = [*bench_flood.SERVE, "--model", str(version), "--port", str(port)]
        server = subprocess.Popen(serve, env=env, cwd=args.source, stderr=subprocess.DEVNULL)
        try:
            bench_flood._wait_ready(port)
            process, pipe = _probed(port, 3.0)
            alone = pipe.recv()
            process.join()
            process, pipe = _probed(port, args.duration)
            cpu_before, client_before = _thread_cpu(server.pid), os.times()
            load = os.getloadavg()[0]
            flood_started = time.monotonic()
            flooded = asyncio.run(
                bench_flood.flood(port, args.concurrency, args.rows, args.duration)
            )
            cpu_after, client_after = _thread_cpu(server.pid), os.times()
            under = pipe.recv()
            process.join()
        finally:
            server.terminate()
            server.wait(timeout=60)
        with open(trace) as dump:
            records = json.load(dump)
    healthz = records["healthz"]
    window = [
        i
        for i in records["iterations"]
        if flood_started + 1 < i[0] < flood_started + args.duration - 0.5
    ]
    busy = [wall - selecting for _, wall, _, selecting, _ in window]
    cpu = {
        name: round((cpu_after[name] - cpu_before.get(name, 0.0)) / args.duration, 2)
        for name in cpu_after
        if cpu_after[name] > cpu_before.get(name, 0.0)
    }
    used = client_after.user + client_after.system - client_before.user - client_before.system
    print(
        json.dumps(
            {
                "source": str(args.source),
                "load_average_1m": round(load, 1),
                "healthz_alone": _split(alone, healthz[: len(alone)]),
                "healthz_flood": _split(under, healthz[len(alone) :]),
                "flood": flooded,
                "loop_iterations_in_flood": {
                    "per_s": round(len(window) / (args.duration - 1.5), 1),
                    "busy_ms_p50": _q(busy, 0.5),
                    "busy_ms_p95": _q(busy, 0.95),
                    "loop_thread_cpu_over_busy_wall": round(
                        sum(i[2] for i in window) / max(sum(busy), 1e-9), 2
                    ),
                    "ready_callbacks_p50": sorted(i[4] for i in window)[len(window) // 2],
                },
                "cores_used_in_flood": {**cpu, "flood_client": round(used / args.duration, 2)},
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
