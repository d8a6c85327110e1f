"""p99 of /v1/predict with and without the live evidence (shadow + capture + drift), in ONE run
(issue 27). By hand only:

    PYTHONPATH=. .venv/bin/python bench/bench_live.py [--rounds 3] [--seconds 4] [--clients 8]

Starts two servers on the same fixture version (tests/runtime/fixture_model.py, with a drift
reference): `plain` and `live` (TABSHIP_SHADOW_MODEL_URI = a second version, capture of every
row to a temporary folder, TABSHIP_DRIFT=1), then loads them in turns (plain, live, live,
plain ... so neither always goes first) with `--clients` closed-loop clients posting 10-row
requests. Prints each turn's p50 / p99 / req/s, the median p99 ratio live/plain, the capture
writer's throughput (rows stored / second of the whole run) and the drift figures of a shifted
sample (the same rows shifted as tests/runtime/live_fixture.py does).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "runtime"))

from fixture_model import write_version  # noqa: E402
from live_fixture import add_drift, rows, table  # noqa: E402


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(model: Path, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith("TABSHIP_")}
    full.update({"PYTHONPATH": str(REPO), **env})
    process = subprocess.Popen(
        [sys.executable, "-m", "tabship.runtime.serve", "--model", str(model), "--port", str(port)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=full,
        cwd=REPO,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz").status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"server did not start: {log.read_text()}")


def load(
    url: str, payloads: list[list[dict[str, Any]]], clients: int, seconds: float
) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(offset: int) -> None:
        mine = []
        with httpx.Client(base_url=url, timeout=30) as session:
            i = offset
            while time.monotonic() < stop:
                began = time.perf_counter()
                answer = session.post("/v1/predict", json=payloads[i % len(payloads)])
                mine.append(time.perf_counter() - began)
                assert answer.status_code == 200, answer.text
                i += clients
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-live-") as scratch:
        root = Path(scratch)
        a = write_version(root / "reg", "shoppers-full", "20261126T070000000000Z-0a1b2c3d")
        b = write_version(
            root / "reg",
            "shoppers-full",
            "20261126T080000000000Z-4e5f6a7b",
            threshold=0.6,
            bias=-0.5,
        )
        add_drift(a, table(5000, seed=1))
        live_env = {
            "TABSHIP_SHADOW_MODEL_URI": str(b),
            "TABSHIP_CAPTURE_URI": str(root / "capture"),
            "TABSHIP_DRIFT": "1",
        }
        plain, plain_url = start(a, {}, root / "plain.log")
        live, live_url = start(a, live_env, root / "live.log")
        data = rows(table(2000, seed=2))
        payloads = [data[i : i + 10] for i in range(0, len(data), 10)]
        began = time.monotonic()
        results: dict[str, list[float]] = {"plain": [], "live": []}
        order = [("plain", plain_url), ("live", live_url)]
        for round_ in range(args.rounds):
            for name, url in order if round_ % 2 == 0 else order[::-1]:
                latencies = load(url, payloads, args.clients, args.seconds)
                p50, p99 = quantile(latencies, 0.5), quantile(latencies, 0.99)
                results[name].append(p99)
                print(
                    f"round {round_} {name:5}: p50 {p50 * 1e3:6.2f} ms  p99 {p99 * 1e3:6.2f} ms  "
                    f"{len(latencies) / args.seconds:7.0f} req/s"
                )
        ratios = [lv / pl for lv, pl in zip(results["live"], results["plain"], strict=True)]
        print(f"p99 live / plain per round: {[round(r, 3) for r in ratios]}")
        print(f"median p99 ratio live/plain: {statistics.median(ratios):.3f}")
        shadow = httpx.get(live_url + "/v1/shadow").json()
        print(
            f"shadow compared {shadow['rows_compared']} rows, dropped {shadow['dropped_rows']}, "
            f"disagreement rate {shadow['disagreement_rate']:.3f}"
        )
        shifted = rows(table(2000, seed=3, shift=True))
        for start_ in range(0, 2000, 100):
            httpx.post(live_url + "/v1/predict", json=shifted[start_ : start_ + 100])
        time.sleep(1.0)
        for process in (plain, live):
            process.send_signal(signal.SIGTERM)
            process.wait(60)
        elapsed = time.monotonic() - began
        log = (root / "live.log").read_text()
        line = next(x for x in log.splitlines() if "capture:" in x and "rows stored" in x)
        stored = int(line.split("capture: ")[1].split(" rows")[0])
        print(f"capture: {line.split('capture: ')[1]}")
        print(f"capture throughput: {stored / elapsed:,.0f} rows/s over the run ({elapsed:.1f} s)")
        frame = table(2000, seed=3, shift=True)
        frame.to_parquet(root / "shifted.parquet")
        report = subprocess.run(
            [
                sys.executable,
                "-m",
                "tabship.cli.main",
                "drift",
                str(a),
                str(root / "shifted.parquet"),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            check=True,
        )
        print("drift of the shifted sample (tabship drift):")
        print(report.stdout)
        print(json.dumps({"median_p99_ratio": statistics.median(ratios)}))


if __name__ == "__main__":
    main()
