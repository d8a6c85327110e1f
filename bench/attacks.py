"""Hostile load against a running server on 127.0.0.1, by hand (issue 16's before/after figures).

    .venv/bin/python bench/attacks.py drip   --url http://127.0.0.1:8000 [--connections 300]
    .venv/bin/python bench/attacks.py labels --url http://127.0.0.1:8000 [--requests 3000]
    .venv/bin/python bench/attacks.py flood  --url http://127.0.0.1:8000 [--concurrency 400]

drip:   N connections each send a POST head with Content-Length: 100000 and then one body byte
        every few seconds (reopened when the server closes them), while ONE well-behaved client
        sends real single-row requests back to back; prints how many it got answered (200) and
        how many were refused, and how many drip connections the server closed.
labels: requests with attacker-chosen methods, paths and column names; prints /metrics bytes
        before and after.
flood:  1,000-row batches at the given concurrency while /healthz is probed every 50 ms;
        prints the probe latencies (max, p99), answers by status and the server's RSS.
Every loop is bounded by --duration (or --requests) and stops by itself; loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import string
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

ROW: dict[str, Any] = {
    "PageValues": 10,
    "ExitRates": 0.05,
    "Administrative": 3,
    "Month": "nov",
    "VisitorType": "new_visitor",
    "OperatingSystems": "2",
}


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("attacks.py only targets loopback addresses")
    return host, parts.port or 80


async def _request(
    host: str, port: int, method: str, path: str, body: bytes | None, timeout: float = 30
) -> tuple[int, bytes]:
    """One request on a fresh connection: (status, body); status 0 when it failed."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        return 0, b""
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    try:
        writer.write(head.encode("latin-1") + b"\r\n" + (body or b""))
        data = await asyncio.wait_for(reader.read(), timeout)
    except (OSError, TimeoutError):
        return 0, b""
    finally:
        writer.close()
    try:
        status = int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0, data
    return status, data.split(b"\r\n\r\n", 1)[-1]


async def _rss(host: str, port: int, pid: int | None = None) -> float:
    if pid:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1000
    _, text = await _request(host, port, "GET", "/metrics", None)
    for line in text.decode(errors="replace").splitlines():
        if line.startswith("process_resident_memory_bytes "):
            return float(line.split()[1]) / 1e6
    return float("nan")


# --- drip -----------------------------------------------------------------------------------


async def _dripper(host: str, port: int, stop: float, every: float, closed: Counter[str]) -> None:
    head = (
        f"POST /v1/predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        "Content-Length: 100000\r\n\r\n"
    ).encode()
    while time.monotonic() < stop:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            closed["refused"] += 1
            await asyncio.sleep(0.5)
            continue
        try:
            writer.write(head + b"[")
            while time.monotonic() < stop:
                await asyncio.sleep(every)
                if reader.at_eof():
                    break
                writer.write(b" ")
                await writer.drain()
            else:
                continue
            closed["closed_by_server"] += 1
        except OSError:
            closed["closed_by_server"] += 1
        finally:
            writer.close()


async def drip(args: argparse.Namespace) -> None:
    host, port = _address(args.url)
    stop = time.monotonic() + args.duration
    closed: Counter[str] = Counter()
    attackers = [
        asyncio.create_task(_dripper(host, port, stop, args.every, closed))
        for _ in range(args.connections)
    ]
    await asyncio.sleep(2)  # let the attack take hold
    answers: Counter[int] = Counter()
    body = json.dumps(ROW).encode()
    while time.monotonic() < stop - 1:
        status, _ = await _request(host, port, "POST", "/v1/predict", body, timeout=15)
        answers[status] += 1
        await asyncio.sleep(0.2)
    await asyncio.gather(*attackers)
    print(
        json.dumps(
            {
                "attack": "drip",
                "connections": args.connections,
                "real_requests": sum(answers.values()),
                "answered_200": answers[200],
                "by_status": dict(answers),
                "drip_connections": dict(closed),
            }
        )
    )


# --- labels ---------------------------------------------------------------------------------


def _word(n: int) -> str:
    return "".join(random.choices(string.ascii_uppercase, k=n))


async def labels(args: argparse.Namespace) -> None:
    host, port = _address(args.url)
    before = len((await _request(host, port, "GET", "/metrics", None))[1])
    semaphore = asyncio.Semaphore(32)
    statuses: Counter[int] = Counter()

    async def one(i: int) -> None:
        async with semaphore:
            kind = i % 3
            if kind == 0:
                status, _ = await _request(host, port, _word(args.method_length), "/healthz", None)
            elif kind == 1:
                status, _ = await _request(host, port, "GET", "/" + _word(40), None)
            else:
                row = {**ROW, _word(30): 1, "Month": _word(20)}
                status, _ = await _request(
                    host, port, "POST", "/v1/predict", json.dumps([row, {_word(30): 2}]).encode()
                )
            statuses[status] += 1

    await asyncio.gather(*(one(i) for i in range(args.requests)))
    after = len((await _request(host, port, "GET", "/metrics", None))[1])
    print(
        json.dumps(
            {
                "attack": "labels",
                "requests": args.requests,
                "by_status": dict(statuses),
                "metrics_bytes_before": before,
                "metrics_bytes_after": after,
            }
        )
    )


# --- flood ----------------------------------------------------------------------------------


async def flood(args: argparse.Namespace) -> None:
    host, port = _address(args.url)
    body = json.dumps([ROW] * args.rows).encode()
    stop = time.monotonic() + args.duration
    statuses: Counter[int] = Counter()
    rss_before = await _rss(host, port, args.pid)

    async def worker() -> None:
        while time.monotonic() < stop:
            status, _ = await _request(host, port, "POST", "/v1/predict", body, timeout=60)
            statuses[status] += 1

    workers = [asyncio.create_task(worker()) for _ in range(args.concurrency)]
    await asyncio.sleep(1)
    probes: list[float] = []
    while time.monotonic() < stop:
        started = time.perf_counter()
        status, _ = await _request(host, port, "GET", "/healthz", None, timeout=30)
        probes.append(time.perf_counter() - started if status == 200 else float("inf"))
        await asyncio.sleep(0.05)
    await asyncio.gather(*workers)
    finite = sorted(probes)
    print(
        json.dumps(
            {
                "attack": "flood",
                "concurrency": args.concurrency,
                "rows": args.rows,
                "healthz_probes": len(probes),
                "healthz_max_ms": round(finite[-1] * 1000, 1),
                "healthz_p99_ms": round(finite[int(0.99 * (len(finite) - 1))] * 1000, 1),
                "healthz_median_ms": round(statistics.median(finite) * 1000, 1),
                "by_status": dict(statuses),
                "rss_mb_before": rss_before,
                "rss_mb_after": await _rss(host, port, args.pid),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("attack", choices=["drip", "labels", "flood"])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--connections", type=int, default=300)
    parser.add_argument("--every", type=float, default=3.0, help="drip: seconds between bytes")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--method-length", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=400)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--pid", type=int, help="flood: read the server's RSS from /proc")
    args = parser.parse_args()
    asyncio.run({"drip": drip, "labels": labels, "flood": flood}[args.attack](args))


if __name__ == "__main__":
    main()
