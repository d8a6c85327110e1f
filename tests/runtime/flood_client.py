"""A closed-loop flood of large batches, run as its own process so that its event loop never
delays the test's probes: `python flood_client.py PORT CONCURRENCY ROWS SECONDS` prints one JSON
list of [status, seconds] per answer (status 0: the connection failed or timed out)."""

from __future__ import annotations

import asyncio
import json
import sys
import time

ROW = {
    "PageValues": 10,
    "ExitRates": 0.05,
    "Administrative": 3,
    "Month": "nov",
    "VisitorType": "new_visitor",
    "OperatingSystems": "2",
}


async def _post(port: int, head: bytes, body: bytes) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + body)
        data = await reader.read()
    finally:
        writer.close()
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0


async def flood(port: int, concurrency: int, rows: int, seconds: float) -> list[list[float]]:
    body = json.dumps([ROW] * rows).encode()
    head = (
        "POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1")
    stop = time.monotonic() + seconds
    answers: list[list[float]] = []

    async def client() -> None:
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                status = await asyncio.wait_for(_post(port, head, body), 60)
            except (OSError, TimeoutError):
                status = 0
            answers.append([status, time.perf_counter() - started])

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return answers


if __name__ == "__main__":
    port, concurrency, rows, seconds = sys.argv[1:5]
    print(json.dumps(asyncio.run(flood(int(port), int(concurrency), int(rows), float(seconds)))))
