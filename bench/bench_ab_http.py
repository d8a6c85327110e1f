"""A/B of two checkouts' HTTP path, in turns, in ONE run (issue 13 item 3). By hand only.

    mkdir /tmp/before && git archive main | tar -x -C /tmp/before   # the other checkout
    .venv/bin/python bench/bench_ab_http.py --model "$(ls -d /tmp/benchreg/shoppers-full/*/ | tail -1)" \
        --before /tmp/before [--rounds 3] [--concurrency 1,64] [--duration 5]

Starts three servers side by side: bench/hello_app.py, `tabship serve` from the --before
checkout and from this one (the same .venv: only the repo's own code differs, put first on
PYTHONPATH), then for each round and concurrency runs wrk on hello, before, after in turns, before and
after swapping places every round (bench_server.py's load and CPU accounting). Prints per point req/s, % of hello, and the
server's CPU per request, then the medians over the rounds. TABSHIP_BATCHING as set (default 1).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from bench_server import (  # noqa: E402
    ROW_JSON,
    Load,
    Server,
    hello_command,
    load_average,
    pick_tool,
    post,
)


def tabship_from(source: Path, model: Path, log: Path) -> Server:
    command = [sys.executable, "-m", "tabship.cli.main", "serve", "--model", str(model)]
    return Server(f"tabship {source}", command, {"PYTHONPATH": str(source)}, log)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="a gated version directory")
    parser.add_argument("--before", required=True, type=Path, help="the other checkout")
    parser.add_argument("--after", type=Path, default=REPO, help="default: this checkout")
    parser.add_argument("--concurrency", default="1,64")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per point")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per point")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    tool = pick_tool("wrk")
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    print(f"load average at start {load_average()}", flush=True)
    samples: dict[tuple[int, str], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_ab_") as tmp:
        workdir = Path(tmp)
        load = Load(tool, ROW_JSON, workdir)
        servers = {
            "hello": Server("hello", hello_command(), {}, workdir / "hello.log"),
            "before": tabship_from(args.before.resolve(), args.model, workdir / "before.log"),
            "after": tabship_from(args.after.resolve(), args.model, workdir / "after.log"),
        }
        try:
            for name, server in servers.items():
                status, body = post(server.port, ROW_JSON.encode())
                if status != 200:
                    raise SystemExit(f"{name}: {status} {body[:200]!r}")
            for round_ in range(args.rounds):
                for concurrency in concurrencies:
                    hello_rps = 0.0
                    # the second of two servers measured back to back does worse on this
                    # machine: before and after swap places every round (ABBA)
                    order = ["hello", "before", "after"]
                    if round_ % 2:
                        order = ["hello", "after", "before"]
                    for name in order:
                        server = servers[name]
                        load.run(server.port, concurrency, args.warmup)
                        cpu = server.cpu_s()
                        out: dict[str, Any] = load.run(server.port, concurrency, args.duration)
                        cpu_us = (server.cpu_s() - cpu) / max(1, out["requests"]) * 1e6
                        if out["errors"]:
                            raise SystemExit(f"{name}: {out['errors']} errors")
                        if name == "hello":
                            hello_rps = out["rps"]
                        share = out["rps"] / hello_rps
                        samples.setdefault((concurrency, name), []).append(
                            {"rps": out["rps"], "share": share, "cpu_us": cpu_us}
                        )
                        print(
                            f"round {round_ + 1} c={concurrency:<3} {name:<7} "
                            f"{out['rps']:>7.0f} req/s  {share:>5.0%} of hello  "
                            f"{cpu_us:>6.0f} µs CPU/req  p50 {out['p50_ms']:.2f} ms",
                            flush=True,
                        )
        finally:
            for server in servers.values():
                server.stop()
    print(f"\nload average at end {load_average()}; medians over {args.rounds} rounds")
    print("| c | server | req/s | % of hello | server CPU µs/req |")
    print("|---:|---|---:|---:|---:|")
    for (concurrency, name), points in samples.items():
        rps = statistics.median(p["rps"] for p in points)
        share = statistics.median(p["share"] for p in points)
        cpu = statistics.median(p["cpu_us"] for p in points)
        print(f"| {concurrency} | {name} | {rps:,.0f} | {share:.0%} | {cpu:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
