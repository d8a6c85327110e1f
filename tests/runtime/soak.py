"""A soak run against a live server: `concurrency` clients mixing valid, invalid, oversized and
slow (drip-fed) requests for `seconds`, with every answer checked. Shared by
tests/runtime/test_soak.py (one minute) and bench/soak.py (longer, by hand).

Each request has a kind with the one status it must get:
  valid_v1 / valid_oip  200, probabilities equal (==) to onnxruntime run here on the same rows
  invalid_rows          422 (a value the column refuses)
  malformed             400 (not JSON)
  duplicate_key         422
  wrong_type            415
  too_many_rows         413 (max_rows + 1 rows)
  too_large             413 (a declared Content-Length over the body limit)
  drip                  200: a valid body fed in small pieces, within the body deadline
  too_slow              408: a body that does not arrive within the body deadline
503 and 504 are the only other statuses tolerated (both declared, counted and reported); any
other status, a transport error or a wrong score is a failure listed in the report. Before
and after, /metrics is read: the per-route, per-status request counters must have grown by
exactly what was sent. The server's RSS is sampled every second from /proc.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort

from tabship.contract.values import category_text, number_value

PREDICT = "/v1/predict"
KINDS: dict[str, tuple[int, int]] = {  # kind: (expected status, weight in the mix)
    "valid_v1": (200, 30),
    "valid_oip": (200, 10),
    "invalid_rows": (422, 10),
    "malformed": (400, 5),
    "duplicate_key": (422, 5),
    "wrong_type": (415, 5),
    "too_many_rows": (413, 3),
    "too_large": (413, 3),
    "drip": (200, 4),
    "too_slow": (408, 1),
}
TOLERATED = (503, 504)
DRIP_PAUSE_S = 0.125
JSON = {"content-type": "application/json"}


@dataclass
class Report:
    seconds: float
    concurrency: int
    sent: Counter[str] = field(default_factory=Counter)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    compared_rows: int = 0
    failures: list[str] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    warmup_samples: int = 0
    metrics_delta: dict[tuple[str, int], float] = field(default_factory=dict)
    expected_delta: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def rss_growth_mb(self) -> float:
        """Highest RSS after warm-up minus RSS at the end of warm-up."""
        after = self.rss_mb[self.warmup_samples :]
        if not after or self.warmup_samples == 0:
            return 0.0
        return max(after) - self.rss_mb[self.warmup_samples - 1]

    def summary(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 1),
            "concurrency": self.concurrency,
            "requests": sum(self.sent.values()),
            "requests_per_s": round(sum(self.sent.values()) / max(self.seconds, 1e-9), 1),
            "by_kind_status": {f"{k} {s}": n for (k, s), n in sorted(self.statuses.items())},
            "rows_compared_with_onnxruntime": self.compared_rows,
            "rss_mb_start": self.rss_mb[0] if self.rss_mb else None,
            "rss_mb_after_warmup": (
                self.rss_mb[self.warmup_samples - 1] if self.warmup_samples else None
            ),
            "rss_mb_max": max(self.rss_mb) if self.rss_mb else None,
            "rss_mb_end": self.rss_mb[-1] if self.rss_mb else None,
            "rss_growth_after_warmup_mb": round(self.rss_growth_mb, 1),
            "metrics_equal_to_sent": self.metrics_delta == self.expected_delta,
            "failures": self.failures[:20],
            "failure_count": len(self.failures),
        }


class Oracle:
    """Expected P(positive) from onnxruntime itself, fed by tabship/contract/values.py only."""

    def __init__(self, version_dir: Path) -> None:
        manifest = json.loads((version_dir / "manifest.json").read_text())
        self.inputs: list[dict[str, Any]] = manifest["inputs"]
        self.session = ort.InferenceSession(
            str(version_dir / "model.onnx"), providers=["CPUExecutionProvider"]
        )

    def probabilities(self, rows: list[dict[str, Any]]) -> list[float]:
        feeds = {}
        for entry in self.inputs:
            values = [row[entry["name"]] for row in rows]
            if entry["kind"] == "numeric":
                feeds[entry["name"]] = np.array(
                    [[number_value(v)] for v in values], dtype=np.float64
                )
            else:
                feeds[entry["name"]] = np.array([[category_text(v)] for v in values], dtype=object)
        (probabilities,) = self.session.run(["probabilities"], feeds)
        return [float(p) for p in probabilities[:, 1]]


def _value(entry: dict[str, Any], rng: random.Random) -> Any:
    if entry.get("nullable") and rng.random() < 0.1:
        return None
    if entry["kind"] == "numeric":
        number = round(rng.uniform(-5, 400), rng.choice([0, 2, 6]))
        return rng.choice([number, str(number), int(number)])
    known = list(entry.get("categories") or ["a"])
    return rng.choice([*known, *known, "unseen-" + str(rng.randrange(1000)), rng.randrange(10)])


class Mix:
    """Request bodies per kind, built once (valid ones with their expected scores)."""

    def __init__(self, oracle: Oracle, max_rows: int, max_body_bytes: int, seed: int = 16) -> None:
        rng = random.Random(seed)
        self.inputs = oracle.inputs
        self.valid: list[tuple[bytes, bytes, list[float]]] = []  # v1 body, OIP body, expected
        for _ in range(200):
            rows = [
                {e["name"]: _value(e, rng) for e in self.inputs}
                for _ in range(rng.choice([1, 1, 2, 5, 16, 40, 300]))  # 300: the prep thread
            ]
            self.valid.append(
                (json.dumps(rows).encode(), self._oip(rows), oracle.probabilities(rows))
            )
        first = self.inputs[0]["name"]
        row = {e["name"]: _value(e, rng) for e in self.inputs}
        self.invalid_rows = json.dumps([row, {**row, first: "not a number"}]).encode()
        self.malformed = b'[{"PageValues": 1,'
        text = json.dumps(row)
        self.duplicate_key = (text[:-1] + f', "{first}": 1}}').encode()
        self.too_many_rows = json.dumps([row] * (max_rows + 1)).encode()
        self.max_body_bytes = max_body_bytes

    def _oip(self, rows: list[dict[str, Any]]) -> bytes:
        inputs = [
            {
                "name": e["name"],
                "shape": [len(rows)],
                "datatype": "FP64" if e["kind"] == "numeric" else "BYTES",
                "data": [
                    (float(number_value(r[e["name"]])) if r[e["name"]] is not None else None)
                    if e["kind"] == "numeric"
                    else r[e["name"]]
                    for r in rows
                ],
            }
            for e in self.inputs
        ]
        return json.dumps({"inputs": inputs}).encode()


async def _drip(body: bytes, pieces: int, pause_s: float) -> AsyncIterator[bytes]:
    step = max(1, len(body) // pieces)
    for start in range(0, len(body), step):
        yield body[start : start + step]
        await asyncio.sleep(pause_s)


def parse_requests_total(text: str) -> dict[tuple[str, int], float]:
    out: dict[tuple[str, int], float] = {}
    for line in text.splitlines():
        if line.startswith("tabship_http_requests_total{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
            key = (labels["route"], int(labels["status"]))
            out[key] = out.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


class Soak:
    def __init__(
        self,
        url: str,
        pid: int,
        mix: Mix,
        *,
        model_name: str,
        seconds: float,
        concurrency: int = 64,
        body_timeout_s: float = 1.0,
        warmup_s: float | None = None,
        think_s: float = 0.01,
        seed: int = 16,
    ) -> None:
        self.url = url
        self.pid = pid
        self.mix = mix
        self.infer = f"/v2/models/{model_name}/infer"
        self.seconds = seconds
        self.concurrency = concurrency
        self.body_timeout_s = body_timeout_s
        self.warmup_s = min(seconds / 4, 30.0) if warmup_s is None else warmup_s
        self.think_s = think_s  # keeps CPU use sane on a small machine: this is not a race
        self.rng = random.Random(seed)
        self.report = Report(seconds, concurrency)
        self._kinds = list(KINDS)
        self._weights = [w for _, w in KINDS.values()]

    def rss_mb(self) -> float:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    async def run(self) -> Report:
        # idle connections expire on the client well before the server's 5 s keep-alive: equal
        # timeouts race (a reused connection closed by the server as the request leaves is a
        # ReadError, seen once in ~10k requests on a loaded machine; docs/serving.md)
        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=None, keepalive_expiry=2.0
        )
        timeout = httpx.Timeout(30.0)
        async with httpx.AsyncClient(base_url=self.url, limits=limits, timeout=timeout) as client:
            before = parse_requests_total((await client.get("/metrics")).text)
            started = time.monotonic()
            stop = started + self.seconds
            sampler = asyncio.create_task(self._sample(started, stop))
            await asyncio.gather(*(self._worker(client, stop) for _ in range(self.concurrency)))
            await sampler
            self.report.seconds = time.monotonic() - started
            after = parse_requests_total((await client.get("/metrics")).text)
        report = self.report
        routes = (PREDICT, "/v2/models/{name}/infer")
        report.metrics_delta = {
            key: value - before.get(key, 0.0)
            for key, value in after.items()
            if key[0] in routes and value - before.get(key, 0.0)
        }
        for (kind, status), n in report.statuses.items():
            route = "/v2/models/{name}/infer" if kind == "valid_oip" else PREDICT
            key = (route, status)
            report.expected_delta[key] = report.expected_delta.get(key, 0) + n
        if report.metrics_delta != report.expected_delta:
            report.failures.append(
                f"/metrics counted {report.metrics_delta}, clients received {report.expected_delta}"
            )
        return report

    async def _sample(self, started: float, stop: float) -> None:
        while time.monotonic() < stop:
            self.report.rss_mb.append(round(self.rss_mb(), 1))
            if time.monotonic() - started <= self.warmup_s:
                self.report.warmup_samples = len(self.report.rss_mb)
            await asyncio.sleep(1.0)
        self.report.rss_mb.append(round(self.rss_mb(), 1))

    async def _worker(self, client: httpx.AsyncClient, stop: float) -> None:
        while time.monotonic() < stop:
            kind = self.rng.choices(self._kinds, self._weights)[0]
            try:
                await self._one(client, kind)
            except (httpx.HTTPError, OSError, TimeoutError) as error:
                self.report.failures.append(f"{kind}: {type(error).__name__}: {error}")
            await asyncio.sleep(self.rng.uniform(0, 2 * self.think_s))

    async def _one(self, client: httpx.AsyncClient, kind: str) -> None:
        mix, report = self.mix, self.report
        expected: list[float] | None = None
        if kind in ("valid_v1", "valid_oip", "drip"):
            v1, oip, expected = self.rng.choice(mix.valid)
        if kind == "valid_v1":
            response = await client.post(PREDICT, content=v1, headers=JSON)
        elif kind == "valid_oip":
            response = await client.post(self.infer, content=oip, headers=JSON)
        elif kind == "drip":  # 4 pieces over ~0.5 s: a tenth of the default body deadline
            pause = min(DRIP_PAUSE_S, self.body_timeout_s / 16)
            response = await client.post(PREDICT, content=_drip(v1, 4, pause), headers=JSON)
        elif kind == "too_slow":
            await self._too_slow()
            return
        elif kind == "too_large":
            size = mix.max_body_bytes + 1
            body = b"[" + b" " * (size - 2) + b"]"
            response = await client.post(PREDICT, content=body, headers=JSON)
        elif kind == "wrong_type":
            response = await client.post(
                PREDICT, content=mix.valid[0][0], headers={"content-type": "text/plain"}
            )
        else:
            body = getattr(mix, kind)
            response = await client.post(PREDICT, content=body, headers=JSON)
        status = response.status_code
        report.sent[kind] += 1
        report.statuses[(kind, status)] += 1
        want = KINDS[kind][0]
        if status != want and status not in TOLERATED:
            report.failures.append(f"{kind}: status {status} (want {want}): {response.text[:200]}")
            return
        if status == 200 and expected is not None:
            report.compared_rows += self._compare(kind, response.json(), expected)

    async def _too_slow(self) -> None:
        """Half a body, then silence until the server answers: on its own connection, since an
        HTTP client would write the rest, and a write after the server's close draws a TCP
        reset that can discard the 408 before it is read."""
        body = self.mix.valid[0][0]
        host, port = httpx.URL(self.url).host, httpx.URL(self.url).port
        reader, writer = await asyncio.open_connection(host, port)
        try:
            head = (
                f"POST {PREDICT} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            writer.write(head.encode("latin-1") + body[: len(body) // 2])
            await writer.drain()
            data = await asyncio.wait_for(reader.read(), timeout=self.body_timeout_s + 30)
        finally:
            writer.close()
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
        self.report.sent["too_slow"] += 1
        self.report.statuses[("too_slow", status)] += 1
        if status != 408 and status not in TOLERATED:
            self.report.failures.append(f"too_slow: status {status}: {data[:200]!r}")

    def _compare(self, kind: str, body: dict[str, Any], expected: list[float]) -> int:
        if kind == "valid_oip":
            output = next(o for o in body["outputs"] if o["name"] == "probabilities")
            got = output["data"][1::2]
        elif "predictions" in body:
            got = [p["probability"] for p in body["predictions"]]
        else:
            got = [body["probability"]]
        if got != expected:
            self.report.failures.append(f"{kind}: scores {got[:3]} differ from {expected[:3]}")
        return len(expected)
