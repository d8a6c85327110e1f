"""Where one POST /v1/predict request's time goes (issue 13 item 3), in-process. By hand only.

    .venv/bin/python bench/http_breakdown.py --model "$(ls -d /tmp/benchreg/shoppers-full/*/ | tail -1)"

Times, in turns (median µs per call; the machine is shared), on docs/serving.md's one row:
  - each stage the route runs, called alone on the server's own objects (create_app's
    DataPlane / Service): decode (runtime.json_codec.decode_json), validate
    (InputSchema.validate_rows), feeds (InputSchema.stack), score (Model.score), answer
    (the response dict), encode (render_json), metrics (the counters one request updates);
  - the batch hop: Service.score through the batcher's thread (what a request pays when other
    connections are open) against the inline call a lone client gets;
  - the whole ASGI application with no sockets (an HTTP scope, one body message, the response
    messages collected): tabship's app with the inline path, the same with Model.score stubbed
    out, and bench/hello_app.py's app. What is left of a real request is uvicorn's protocol
    (httptools parse, transport write) and the kernel, which `bench_server.py` measures
    over sockets (and py-spy on a real server shows: see bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_speed import ROW_JSON  # noqa: E402

BODY = ROW_JSON.encode()


def asgi_caller(app: Any, body: bytes) -> Callable[[], Awaitable[int]]:
    """One POST /v1/predict through `app` with no sockets; returns the status."""
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]

    async def call() -> int:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/predict",
            "raw_path": b"/v1/predict",
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        sent = False
        status = 0

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(scope, receive, send)
        return status

    return call


async def time_async_in_turns(
    calls: dict[str, Callable[[], Any]], n: int, blocks: int = 20
) -> dict[str, float]:
    """Median µs per call of each (sync or async) callable, taking turns in `blocks` rounds."""

    async def once(call: Callable[[], Any]) -> None:
        result = call()
        if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            await result

    for call in calls.values():
        for _ in range(max(20, n // 20)):
            await once(call)
    clock = time.perf_counter_ns
    samples: dict[str, list[float]] = {name: [] for name in calls}
    per_block = max(1, -(-n // blocks))
    while any(len(s) < n for s in samples.values()):
        for name, call in calls.items():
            out = samples[name]
            for _ in range(min(per_block, n - len(out))):
                started = clock()
                await once(call)
                out.append((clock() - started) / 1000.0)
    return {name: statistics.median(s) for name, s in samples.items()}


async def measure(model_dir: Path, calls: int) -> dict[str, Any]:
    from hello_app import create_app as hello_app

    from tabship.runtime.dataplane.json_codec import decode_json, render_json
    from tabship.runtime.dataplane.plane import DataPlane
    from tabship.runtime.dataplane.service import Service
    from tabship.runtime.model.session import Model
    from tabship.runtime.rest.app import create_app
    from tabship.runtime.settings import Settings

    settings = Settings.from_env(model_uri=str(model_dir))
    model = Model.load(settings)
    plane = DataPlane(Service(settings, model))
    service = plane.service
    service.connections = lambda: 1  # one client: the inline path, as at concurrency 1
    app = create_app(settings, model, plane)
    service.ready = True
    schema, metrics = service.schema, service.metrics

    payload = decode_json(BODY)
    validated = schema.validate_rows([payload])
    feeds = schema.stack([validated])
    scores = model.score(feeds)
    answer = plane._prediction_body(validated, scores, True)

    def count_metrics() -> None:
        metrics.batch(1)
        metrics.scored(1)
        metrics.request("/v1/predict", "POST", 200, 0.001)

    async def hop() -> Any:  # through the batcher's thread, as with other connections open
        assert service.batcher is not None
        return await service.batcher.submit(validated)

    tabship = asgi_caller(app, BODY)
    hello = asgi_caller(hello_app(), BODY)
    for name, call in (("tabship", tabship), ("hello", hello)):
        if await call() != 200:
            raise SystemExit(f"{name}: POST /v1/predict did not answer 200")

    stubbed_app = create_app(settings, model, plane)
    stub = asgi_caller(stubbed_app, BODY)
    real_score = model.score

    async def tabship_stubbed() -> int:
        model.score = lambda feeds: scores  # type: ignore[method-assign]
        try:
            return await stub()
        finally:
            model.score = real_score  # type: ignore[method-assign]

    stages = await time_async_in_turns(
        {
            "decode": lambda: decode_json(BODY),
            "validate": lambda: schema.validate_rows([payload]),
            "feeds": lambda: schema.stack([validated]),
            "score": lambda: model.score(feeds),
            "answer": lambda: plane._prediction_body(validated, scores, True),
            "encode": lambda: render_json(answer),
            "metrics": count_metrics,
            "inline_call": lambda: service._run_batch([validated]),
            "batch_hop_call": hop,
            "asgi_tabship": tabship,
            "asgi_tabship_score_stubbed": tabship_stubbed,
            "asgi_hello": hello,
        },
        calls,
    )
    service.close()
    return {"model": str(model_dir), "calls": calls, "median_us": stages}


def print_table(result: dict[str, Any]) -> None:
    t = result["median_us"]
    parts = ("decode", "validate", "feeds", "score", "answer", "encode", "metrics")
    print(f"model {result['model']}, {result['calls']} calls each, in turns; median µs")
    print("| stage | µs |")
    print("|---|---:|")
    for name in parts:
        print(f"| {name} | {t[name]:,.1f} |")
    print(f"| sum of the stages | {sum(t[n] for n in parts):,.1f} |")
    hop = t["batch_hop_call"] - t["inline_call"]
    print(
        f"| batch hop: thread round trip ({t['batch_hop_call']:,.1f}) - inline "
        f"({t['inline_call']:,.1f}) | {hop:,.1f} |"
    )
    stubbed = t["asgi_tabship_score_stubbed"]
    print(f"| whole ASGI app, tabship (inline) | {t['asgi_tabship']:,.1f} |")
    print(f"| whole ASGI app, tabship, Model.score stubbed | {stubbed:,.1f} |")
    print(f"| whole ASGI app, hello-world | {t['asgi_hello']:,.1f} |")
    # the app with the model stubbed, less its stages: Starlette, the metrics middleware,
    # admission and deadline, the body read
    plumbing = stubbed - sum(t[n] for n in parts if n != "score")
    print(f"| plumbing: stubbed app - its stages (hello's whole app: above) | {plumbing:,.1f} |")
    # what the same work costs more when composed (caches cold after onnxruntime, and back)
    composed = t["asgi_tabship"] - stubbed - t["score"]
    print(f"| composed: app - stubbed app - score alone | {composed:,.1f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="a gated version directory")
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    result = asyncio.run(measure(args.model, args.calls))
    print_table(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
