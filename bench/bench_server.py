"""The scoring server's cost, measured in ONE run on one machine (issue 5, item 8). By hand only.

    sudo apt-get install -y wrk            # or: hey (used when wrk is absent)
    .venv/bin/tabship train --registry /tmp/benchreg --variants full --search-iterations 2
    .venv/bin/python bench/bench_server.py --model "$(ls -d /tmp/benchreg/shoppers-full/*/ | tail -1)"

Measures, on the single-row body of docs/serving.md's curl example:
  (a) in-process, per call (median / p99): tabship's own path (InputSchema.rows_to_feeds +
      Model.score: what POST /v1/predict does minus HTTP), its parts, a bare onnxruntime
      session.run on prebuilt feeds, and the reference pipeline's predict_proba on a one-row
      pandas DataFrame (the pipeline from the version's evidence);
  (b) over HTTP on 127.0.0.1: req/s and p50/p99 of POST /v1/predict at each concurrency, with
      micro-batching ON (TABSHIP_BATCHING=1) and OFF (=0), against bench/hello_app.py (a
      hello-world Starlette endpoint served the same way); one server process each, all started
      before the load and measured interleaved (per concurrency: hello, on, off), each point a
      short warm-up and then --duration seconds of wrk (1 thread, keep-alive);
  (c) `tabship serve` started afresh --starts times: wall time from spawn to the first
      /readyz == 200, RSS at ready and after a warm-up; against a Python process that imports
      joblib + pandas, loads the evidence's pipeline.joblib and scores one row (time to scored, RSS).
Prints markdown tables and writes bench/results/server.json (bench/results/ is git-ignored).
Everything (the load tool too) shares the machine's CPUs: run it on an otherwise idle machine,
twice, and report both runs.
"""

from __future__ import annotations

import argparse
import copy
import http.client
import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tabship.training import evidence

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
TRAIN_COMMAND = (
    ".venv/bin/tabship train --registry /tmp/benchreg --variants full --search-iterations 2"
)
# docs/serving.md's curl example: one row, every column present.
ROW_JSON = (
    '{"Administrative": 3, "Administrative_Duration": 45.2, "Informational": 0, '
    '"Informational_Duration": 0, "ProductRelated": 22, "ProductRelated_Duration": 812.5, '
    '"BounceRates": 0.01, "ExitRates": 0.03, "PageValues": 12.4, "SpecialDay": 0, '
    '"Month": "Nov", "OperatingSystems": 2, "Browser": 2, "Region": 1, "TrafficType": 2, '
    '"VisitorType": "Returning_Visitor", "Weekend": false}'
)
TOOL_HELP = (
    "no HTTP load tool found: install wrk (Debian/Ubuntu: `sudo apt-get install -y wrk`; "
    "macOS: `brew install wrk`) or hey (`sudo apt-get install -y hey`), or pass --skip-http"
)

# -- helpers ----------------------------------------------------------------------------------


def fail(message: str) -> None:
    print(f"bench_server: {message}", file=sys.stderr)
    sys.exit(2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


def summarize(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "calls": len(samples),
        "median_us": statistics.median(samples),
        "p99_us": percentile(samples, 99),
        "mean_us": statistics.fmean(samples),
        "min_us": samples[0],
    }


def time_interleaved(
    calls: dict[str, Callable[[], Any]], n: int, warmup: int, blocks: int = 20
) -> dict[str, dict[str, float]]:
    """Per-call wall time in microseconds, n calls each. The paths take turns in `blocks`
    rounds, so a change in machine load hits them all alike (the machine is shared)."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    clock = time.perf_counter_ns
    samples: dict[str, list[float]] = {name: [] for name in calls}
    per_block = max(1, -(-n // blocks))
    while any(len(s) < n for s in samples.values()):
        for name, call in calls.items():
            out = samples[name]
            for _ in range(min(per_block, n - len(out))):
                started = clock()
                call()
                out.append((clock() - started) / 1000.0)
    return {name: summarize(s) for name, s in samples.items()}


def post(port: int, body: bytes, path: str = "/v1/predict") -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


# -- servers ----------------------------------------------------------------------------------


class Server:
    """A server subprocess on 127.0.0.1 (tabship serve or bench/hello_app.py)."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.port = free_port()
        self.log = log
        self._log_file = log.open("w")
        full_env = {**os.environ, **env, "TABSHIP_HOST": "127.0.0.1"}
        full_env["TABSHIP_PORT"] = str(self.port)
        full_env.setdefault("TABSHIP_LOG_LEVEL", "warning")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(self.port)],
            env=full_env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        self.ready_s = self._wait_ready()
        import psutil

        self.ps = psutil.Process(self.process.pid)

    def _wait_ready(self, limit_s: float = 60.0) -> float:
        deadline = self.started + limit_s
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                fail(
                    f"{self.name} exited with {self.process.returncode}; log: {self.log}\n"
                    + self.log.read_text()[-2000:]
                )
            try:
                status, _ = get(self.port, "/readyz", timeout=1.0)
                if status == 200:
                    return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(0.002)
        self.stop()
        fail(f"{self.name} not ready within {limit_s} s; log: {self.log}")
        raise AssertionError  # unreachable

    def rss_mb(self) -> float:
        return self.ps.memory_info().rss / 2**20

    def cpu_s(self) -> float:
        times = self.ps.cpu_times()
        return times.user + times.system

    def metric(self, name: str) -> float | None:
        status, body = get(self.port, "/metrics")
        if status != 200:
            return None
        match = re.search(rf"^{name} ([0-9.e+-]+)$", body.decode(), re.M)
        return float(match.group(1)) if match else None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()


def tabship_command() -> list[str]:
    script = Path(sys.executable).parent / "tabship"
    if script.exists():
        return [str(script), "serve"]
    return [sys.executable, "-m", "tabship.cli.main", "serve"]


def hello_command() -> list[str]:
    return [sys.executable, str(REPO / "bench" / "hello_app.py")]


# -- load tools -------------------------------------------------------------------------------

WRK_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[%s]==]
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,' ..
    '"status":%%d,"timeout":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d,' ..
    '"mean_us":%%.1f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
"""


def pick_tool(choice: str) -> str:
    if choice != "auto":
        if not shutil.which(choice):
            fail(f"--tool {choice}: not on PATH. {TOOL_HELP}")
        return choice
    for tool in ("wrk", "hey"):
        if shutil.which(tool):
            return tool
    fail(TOOL_HELP)
    raise AssertionError  # unreachable


class Load:
    """Runs one bounded load point with wrk (1 thread) or hey; returns req/s and latencies."""

    def __init__(self, tool: str, body: str, workdir: Path) -> None:
        self.tool = tool
        self.body_path = workdir / "body.json"
        self.body_path.write_text(body)
        self.lua = workdir / "post.lua"
        self.lua.write_text(WRK_LUA % body)

    def run(self, port: int, concurrency: int, seconds: float) -> dict[str, Any]:
        url = f"http://127.0.0.1:{port}/v1/predict"
        if self.tool == "wrk":
            command = [
                "wrk",
                "-t1",
                f"-c{concurrency}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                str(self.lua),
                url,
            ]
        else:
            command = [
                "hey",
                "-z",
                f"{max(1, round(seconds))}s",
                "-c",
                str(concurrency),
                "-m",
                "POST",
                "-T",
                "application/json",
                "-D",
                str(self.body_path),
                url,
            ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            fail(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
        out = self._parse_wrk(done.stdout) if self.tool == "wrk" else self._parse_hey(done.stdout)
        out["tool_cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        return out

    @staticmethod
    def _parse_wrk(stdout: str) -> dict[str, Any]:
        match = re.search(r"^WRKJSON (\{.*\})$", stdout, re.M)
        if not match:
            fail(f"wrk output without the summary line:\n{stdout[-2000:]}")
        raw = json.loads(match.group(1))  # type: ignore[union-attr]
        seconds = raw["duration_us"] / 1e6
        errors = sum(raw[k] for k in ("connect", "read", "write", "status", "timeout"))
        return {
            "requests": raw["requests"],
            "seconds": seconds,
            "rps": raw["requests"] / seconds,
            "p50_ms": raw["p50_us"] / 1000,
            "p90_ms": raw["p90_us"] / 1000,
            "p99_ms": raw["p99_us"] / 1000,
            "max_ms": raw["max_us"] / 1000,
            "errors": errors,
            "non_2xx": raw["status"],
        }

    @staticmethod
    def _parse_hey(stdout: str) -> dict[str, Any]:
        def number(pattern: str) -> float:
            match = re.search(pattern, stdout)
            return float(match.group(1)) if match else float("nan")

        statuses = {int(c): int(n) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", stdout)}
        ok = sum(n for c, n in statuses.items() if 200 <= c < 300)
        errors = int(sum(int(n) for n in re.findall(r"\]\s+(\d+)\s+errors", stdout)))
        total = number(r"Total:\s+([0-9.]+) secs")
        return {
            "requests": sum(statuses.values()),
            "seconds": total,
            "rps": number(r"Requests/sec:\s+([0-9.]+)"),
            "p50_ms": number(r"50%+ in ([0-9.]+) secs") * 1000,
            "p90_ms": number(r"90%+ in ([0-9.]+) secs") * 1000,
            "p99_ms": number(r"99%+ in ([0-9.]+) secs") * 1000,
            "max_ms": number(r"Slowest:\s+([0-9.]+) secs") * 1000,
            "errors": errors + sum(statuses.values()) - ok,
            "non_2xx": sum(statuses.values()) - ok,
        }


# -- (a) in-process ---------------------------------------------------------------------------


def bench_in_process(model_dir: Path, calls: int, reference_calls: int) -> dict[str, Any]:
    import numpy as np
    import onnxruntime as ort

    from tabship.runtime.model.schema import InputSchema
    from tabship.runtime.model.session import OUTPUT_NAMES, Model, session_options
    from tabship.runtime.settings import Settings

    model = Model.load(Settings.from_env(environ={}, model_uri=str(model_dir)))
    schema = InputSchema(model.inputs)  # as runtime.service.Service builds it (defaults)
    row = json.loads(ROW_JSON)  # what the server's JSON decoder hands to validation
    feeds, validated = schema.rows_to_feeds([row])
    bare = ort.InferenceSession(
        model.artifact.model_bytes,
        sess_options=session_options(1),  # the server's options (1 intra-op thread, no spin)
        providers=["CPUExecutionProvider"],
    )

    def tabship_path() -> Any:
        f, _ = schema.rows_to_feeds([row])
        return model.score(f)

    warm = max(50, calls // 20)
    results: dict[str, Any] = time_interleaved(
        {
            "tabship_path": tabship_path,
            "validate_rows": lambda: schema.validate_rows([row]),
            "feeds": lambda: schema.feeds(validated),
            "model_score_prebuilt": lambda: model.score(feeds),
            "bare_session_run": lambda: bare.run(OUTPUT_NAMES, feeds),
        },
        calls,
        warm,
    )

    import pandas as pd

    pipeline = evidence.read(model_dir).pipeline
    frame = pd.DataFrame([row])
    # The reference as trained uses XGBoost n_jobs=2 (OpenMP): on a busy machine its one-row
    # latency swings with the load; the same pipeline at n_jobs=1 is the steadier comparison.
    single = copy.deepcopy(pipeline)
    single.steps[-1][1].set_params(n_jobs=1)
    results |= time_interleaved(
        {
            "reference_predict_proba": lambda: pipeline.predict_proba(frame),
            "reference_predict_proba_n_jobs_1": lambda: single.predict_proba(frame),
            "reference_dataframe_and_predict_proba": lambda: pipeline.predict_proba(
                pd.DataFrame([row])
            ),
            # the bare call again, in the same rounds as the reference (ratio under equal load)
            "bare_session_run_beside_reference": lambda: bare.run(OUTPUT_NAMES, feeds),
        },
        reference_calls,
        max(5, reference_calls // 20),
        blocks=10,
    )
    p_tabship = float(tabship_path().probabilities[0, 1])
    p_reference = float(pipeline.predict_proba(frame)[0, 1])
    results["probability"] = {"tabship": p_tabship, "reference": p_reference}
    if abs(p_tabship - p_reference) > 1e-5:
        print(f"WARNING: tabship p={p_tabship} vs reference p={p_reference}", file=sys.stderr)
    step = pipeline.steps[-1][1]
    results["reference_n_jobs"] = step.get_params().get("n_jobs")
    results["ort_intra_op_threads"] = 1
    del np
    return results


# -- (b) HTTP ---------------------------------------------------------------------------------


def bench_http(
    model_dir: Path,
    concurrencies: list[int],
    seconds: float,
    warmup_s: float,
    tool: str,
    workdir: Path,
) -> dict[str, Any]:
    load = Load(tool, ROW_JSON, workdir)
    servers = {
        "hello": Server("hello", hello_command(), {}, workdir / "hello.log"),
        "batching_on": Server(
            "tabship (batching on)",
            [*tabship_command(), "--model", str(model_dir)],
            {"TABSHIP_BATCHING": "1"},
            workdir / "tabship_on.log",
        ),
        "batching_off": Server(
            "tabship (batching off)",
            [*tabship_command(), "--model", str(model_dir)],
            {"TABSHIP_BATCHING": "0"},
            workdir / "tabship_off.log",
        ),
    }
    points: dict[str, dict[str, Any]] = {name: {} for name in servers}
    try:
        for name, server in servers.items():
            status, body = post(server.port, ROW_JSON.encode())
            if status != 200:
                fail(f"{server.name}: POST /v1/predict answered {status}: {body[:300]!r}")
            if name != "hello" and b'"probability"' not in body:
                fail(f"{server.name}: unexpected body {body[:300]!r}")
        for concurrency in concurrencies:
            for name, server in servers.items():
                if warmup_s > 0:
                    load.run(server.port, concurrency, warmup_s)
                calls = server.metric("tabship_inference_calls_total") if name != "hello" else None
                rows = server.metric("tabship_rows_scored_total") if name != "hello" else None
                cpu = server.cpu_s()
                result = load.run(server.port, concurrency, seconds)
                result["server_cpu_s"] = server.cpu_s() - cpu
                result["server_cpu_us_per_request"] = (
                    result["server_cpu_s"] / max(1, result["requests"]) * 1e6
                )
                result["server_cpu_util"] = result["server_cpu_s"] / result["seconds"]
                result["tool_cpu_util"] = result["tool_cpu_s"] / result["seconds"]
                if calls is not None and rows is not None:
                    d_calls = (server.metric("tabship_inference_calls_total") or 0) - calls
                    d_rows = (server.metric("tabship_rows_scored_total") or 0) - rows
                    result["rows_per_inference_call"] = d_rows / d_calls if d_calls else None
                result["load_average"] = load_average()
                points[name][str(concurrency)] = result
                print(
                    f"  c={concurrency:<3} {server.name:<24} {result['rps']:>8.0f} req/s  "
                    f"p50 {result['p50_ms']:.2f} ms  p99 {result['p99_ms']:.2f} ms  "
                    f"errors {result['errors']}  server CPU {result['server_cpu_util']:.0%}",
                    flush=True,
                )
        rss_after_load = {name: server.rss_mb() for name, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()
    return {
        "tool": tool,
        "seconds_per_point": seconds,
        "warmup_seconds_per_point": warmup_s,
        "points": points,
        "rss_mb_after_load": rss_after_load,
    }


# -- (c) start-up and memory ------------------------------------------------------------------

REFERENCE_PROCESS = """
import json, sys, time
import joblib
import pandas as pd
pipeline = joblib.load(sys.argv[1])
p = pipeline.predict_proba(pd.DataFrame([json.loads(sys.argv[2])]))[0, 1]
done = time.time()
import psutil
print(json.dumps({"done": done, "p": float(p),
                  "rss_mb": psutil.Process().memory_info().rss / 2**20}))
"""


def bench_startup(
    model_dir: Path, starts: int, workdir: Path, warm_requests: int
) -> dict[str, Any]:
    import psutil

    body = ROW_JSON.encode()
    tabship_runs = []
    for i in range(starts):
        server = Server(
            "tabship (start-up)",
            [*tabship_command(), "--model", str(model_dir)],
            {"TABSHIP_LOG_LEVEL": "info"},
            workdir / f"startup_{i}.log",
        )
        try:
            rss_ready = server.rss_mb()
            for _ in range(warm_requests):
                post(server.port, body)
            rss_warm = server.rss_mb()
            uss = server.ps.memory_full_info().uss / 2**20
        finally:
            server.stop()
        match = re.search(r"loaded \S+ \S+ in ([0-9.]+) s", server.log.read_text())
        tabship_runs.append(
            {
                "ready_s": server.ready_s,
                "model_load_s": float(match.group(1)) if match else None,
                "rss_mb_at_ready": rss_ready,
                "rss_mb_after_warmup": rss_warm,
                "uss_mb_after_warmup": uss,
            }
        )
    reference_runs = []
    evidence.read(model_dir)  # every evidence file checked against the manifest first
    manifest = json.loads((model_dir / "manifest.json").read_text())
    root = evidence.root_for_version(model_dir)
    where = evidence.location(root, manifest["name"], manifest["version"])
    pipeline_file = f"{where}/{evidence.PIPELINE_FILE}"
    for _ in range(starts):
        started = time.time()
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                REFERENCE_PROCESS,
                pipeline_file,
                ROW_JSON,
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
        )
        if done.returncode != 0:
            fail(f"reference process failed:\n{done.stderr[-2000:]}")
        out = json.loads(done.stdout.strip().splitlines()[-1])
        reference_runs.append({"scored_s": out["done"] - started, "rss_mb": out["rss_mb"]})
    del psutil
    return {
        "starts": starts,
        "warm_requests": warm_requests,
        "tabship": tabship_runs,
        "reference": reference_runs,
        "tabship_ready_s_median": statistics.median(r["ready_s"] for r in tabship_runs),
        "tabship_rss_mb_median": statistics.median(r["rss_mb_after_warmup"] for r in tabship_runs),
        "reference_scored_s_median": statistics.median(r["scored_s"] for r in reference_runs),
        "reference_rss_mb_median": statistics.median(r["rss_mb"] for r in reference_runs),
    }


# -- report -----------------------------------------------------------------------------------


def tables(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    a = results.get("in_process")
    if a:
        bare = a["bare_session_run"]["median_us"]
        tab = a["tabship_path"]["median_us"]
        lines += [
            "**(a) in-process, one row per call** (median / p99 over "
            f"{a['tabship_path']['calls']} calls; reference over "
            f"{a['reference_predict_proba']['calls']})",
            "",
            "| path | median µs | p99 µs | x bare ONNX | reference / this |",
            "|---|---:|---:|---:|---:|",
        ]
        ref = a["reference_predict_proba"]["median_us"]
        labels = [
            ("tabship_path", "tabship: `rows_to_feeds` + `Model.score`"),
            ("validate_rows", "  of which `InputSchema.validate_rows`"),
            ("feeds", "  of which `InputSchema.feeds`"),
            ("model_score_prebuilt", "  of which `Model.score` (prebuilt feeds)"),
            ("bare_session_run", "bare onnxruntime `session.run` (prebuilt feeds)"),
            ("reference_predict_proba", "reference `predict_proba` (one-row DataFrame)"),
            (
                "reference_dataframe_and_predict_proba",
                "reference: `pd.DataFrame([row])` + `predict_proba`",
            ),
            ("reference_predict_proba_n_jobs_1", "reference `predict_proba`, XGBoost n_jobs=1"),
            (
                "bare_session_run_beside_reference",
                "bare `session.run`, timed in turns with the reference",
            ),
        ]
        for key, label in labels:
            r = a[key]
            lines.append(
                f"| {label} | {r['median_us']:,.1f} | {r['p99_us']:,.1f} | "
                f"{r['median_us'] / bare:.2f} | {ref / r['median_us']:,.1f} |"
            )
        lines += [
            "",
            f"tabship path = {tab / bare:.2f}x the bare call (target: a small factor); "
            f"reference = {ref / tab:.0f}x tabship's path (target ~100x), "
            f"{ref / a['bare_session_run_beside_reference']['median_us']:.0f}x the bare call "
            "timed in the same rounds; "
            f"reference at n_jobs=1 = {a['reference_predict_proba_n_jobs_1']['median_us'] / tab:.0f}x "
            "tabship's path.",
            "",
        ]
    b = results.get("http")
    if b:
        pts = b["points"]
        lines += [
            f"**(b) HTTP POST /v1/predict, one JSON row, 127.0.0.1** "
            f"({'wrk, 1 thread' if b['tool'] == 'wrk' else b['tool']}, "
            f"{b['seconds_per_point']:g} s per point after {b['warmup_seconds_per_point']:g} s warm-up; "
            "server = 1 uvicorn worker, h11)",
            "",
            "| concurrency | server | req/s | % of hello | p50 ms | p99 ms | errors | server CPU | rows/inference call |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        names = [
            ("hello", "hello-world Starlette"),
            ("batching_on", "tabship, batching ON"),
            ("batching_off", "tabship, batching OFF"),
        ]
        for c in pts["hello"]:
            hello = pts["hello"][c]["rps"]
            for key, label in names:
                r = pts[key][c]
                per_call = r.get("rows_per_inference_call")
                lines.append(
                    f"| {c} | {label} | {r['rps']:,.0f} | {r['rps'] / hello:.0%} | "
                    f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} | "
                    f"{r['server_cpu_util']:.0%} ({r['server_cpu_us_per_request']:.0f} µs/req) | "
                    f"{'' if per_call is None else f'{per_call:.1f}'} |"
                )
        lines.append("")
    c = results.get("startup")
    if c:
        t_ready = [r["ready_s"] for r in c["tabship"]]
        t_ref = [r["scored_s"] for r in c["reference"]]
        lines += [
            f"**(c) start-up and memory** (median of {c['starts']} fresh starts; all values in brackets)",
            "",
            "| process | start -> ready / scored (s) | RSS (MB) |",
            "|---|---:|---:|",
            f"| `tabship serve` (spawn -> /readyz 200; RSS after {c['warm_requests']} requests) | "
            f"{c['tabship_ready_s_median']:.3f} ({', '.join(f'{x:.3f}' for x in t_ready)}) | "
            f"{c['tabship_rss_mb_median']:.1f} |",
            "| python: import joblib + pandas, load reference.joblib, score 1 row | "
            f"{c['reference_scored_s_median']:.3f} ({', '.join(f'{x:.3f}' for x in t_ref)}) | "
            f"{c['reference_rss_mb_median']:.1f} |",
            "",
        ]
        if b:
            rss = b["rss_mb_after_load"]
            lines.append(
                "RSS after the HTTP load: "
                + ", ".join(f"{k} {v:.1f} MB" for k, v in rss.items())
                + "."
            )
            lines.append("")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench_server",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model",
        type=Path,
        required=True,
        help="a gated version directory (manifest.json, model.onnx; its evidence beside the registry)",
    )
    parser.add_argument(
        "--calls", type=int, default=2000, help="(a) timed calls per tabship/ONNX path"
    )
    parser.add_argument(
        "--reference-calls",
        type=int,
        default=300,
        help="(a) timed calls of the reference pipeline (tens of ms each)",
    )
    parser.add_argument("--concurrency", default="1,16,64", help="(b) comma-separated")
    parser.add_argument("--duration", type=float, default=10.0, help="(b) seconds per point")
    parser.add_argument("--warmup", type=float, default=2.0, help="(b) warm-up seconds per point")
    parser.add_argument("--tool", choices=["auto", "wrk", "hey"], default="auto")
    parser.add_argument("--starts", type=int, default=3, help="(c) fresh starts of each process")
    parser.add_argument("--warm-requests", type=int, default=200, help="(c) requests before RSS")
    parser.add_argument("--skip-in-process", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-startup", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "server.json")
    args = parser.parse_args(argv)

    model_dir = args.model.resolve()
    needed = ["manifest.json", "model.onnx"]
    missing = [n for n in needed if not (model_dir / n).is_file()]
    if missing:
        fail(
            f"{model_dir} is not a version directory (missing {missing}). Make one with:\n"
            f'  {TRAIN_COMMAND}\nthen pass --model "$(ls -d /tmp/benchreg/shoppers-full/*/ | tail -1)"'
        )
    manifest = json.loads((model_dir / "manifest.json").read_text())
    if manifest.get("parity", {}).get("status") != "passed":
        fail(
            f"{model_dir}: parity.status is {manifest.get('parity', {}).get('status')!r}, so "
            f"`tabship serve` refuses it. Make a gated one with:\n  {TRAIN_COMMAND}"
        )
    tool = None if args.skip_http else pick_tool(args.tool)
    sys.path.insert(0, str(REPO))

    results: dict[str, Any] = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": {"dir": str(model_dir), "name": manifest["name"], "version": manifest["version"]},
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_at_start": load_average(),
        },
        "row": json.loads(ROW_JSON),
    }
    try:
        import onnxruntime
        import starlette
        import uvicorn

        results["versions"] = {
            "onnxruntime": onnxruntime.__version__,
            "starlette": starlette.__version__,
            "uvicorn": uvicorn.__version__,
        }
    except ImportError:
        pass
    print(
        f"model {manifest['name']} {manifest['version']}; {os.cpu_count()} CPUs; "
        f"load average {results['machine']['load_average_at_start']}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench_server_") as tmp:
        workdir = Path(tmp)
        if not args.skip_in_process:
            print("(a) in-process single-row scoring ...", flush=True)
            results["in_process"] = bench_in_process(model_dir, args.calls, args.reference_calls)
        if not args.skip_http:
            print(f"(b) HTTP with {tool} ...", flush=True)
            concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
            assert tool is not None
            results["http"] = bench_http(
                model_dir, concurrencies, args.duration, args.warmup, tool, workdir
            )
        if not args.skip_startup:
            print("(c) start-up time and RSS ...", flush=True)
            results["startup"] = bench_startup(model_dir, args.starts, workdir, args.warm_requests)
    results["machine"]["load_average_at_end"] = load_average()
    lines = tables(results)
    results["table_markdown"] = "\n".join(lines)
    print()
    print("\n".join(lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
