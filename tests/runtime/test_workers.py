"""`tabship serve --workers N` (runtime/workers/): `auto` and the setting, the counts the workers
share, the probe port's aggregate answer; and on real processes on 127.0.0.1: requests spread
over the workers with metrics summed, a killed worker replaced while the others answer, per-server
limits, a stalled worker, SIGTERM draining every worker, a refused model starting no worker."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import tritonclient.grpc as triton_grpc
from conftest import NAME, Server, free_port, wait_until
from fixture_model import write_version
from prometheus_client.mmap_dict import MmapedDict
from test_server import ROWS, metric

from tabship.runtime.health_listener import STALLED
from tabship.runtime.serve import main as serve_main
from tabship.runtime.settings import Settings, SettingsError
from tabship.runtime.workers import cpus
from tabship.runtime.workers.shared import SharedCounts
from tabship.runtime.workers.supervisor import Supervisor

PREDICT = {"route": "/v1/predict", "method": "POST", "status": "200"}


# --- without processes ------------------------------------------------------------------------


def _cgroup(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_auto_is_the_cpus_available_within_the_cgroup_quota(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    v2 = _cgroup(tmp_path / "v2", {"cpu.max": "150000 100000\n"})
    assert cpus.cgroup_quota(v2) == 1.5
    assert cpus.available_cpus(v2) == min(affinity, 2)  # 1.5 CPUs: two processes can use them
    unlimited = _cgroup(tmp_path / "max", {"cpu.max": "max 100000\n"})
    assert cpus.cgroup_quota(unlimited) is None
    assert cpus.available_cpus(unlimited) == affinity
    v1 = _cgroup(
        tmp_path / "v1", {"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}
    )
    assert cpus.available_cpus(v1) == 1
    assert cpus.available_cpus(tmp_path / "none") == affinity
    assert Settings.from_env({"TABSHIP_WORKERS": "auto"}).workers == cpus.available_cpus()
    assert Settings.from_env({"TABSHIP_WORKERS": "3"}).workers == 3
    assert Settings.from_env({}).workers is None  # unset: one process, as before


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_a_bad_number_of_workers_is_refused_by_name(
    value: str, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(SettingsError, match="TABSHIP_WORKERS"):
        Settings.from_env({"TABSHIP_WORKERS": value})
    assert serve_main(["--model", "unused", "--workers", value]) == 2
    assert f"bad setting: --workers {value!r}" in caplog.text


@pytest.mark.parametrize(
    "variable", ["TABSHIP_SHADOW_MODEL_URI", "TABSHIP_CAPTURE_URI", "TABSHIP_DRIFT"]
)
def test_live_evidence_with_workers_is_refused_by_name(
    variable: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # each worker would keep its own shadow queue, capture files and drift window
    monkeypatch.setenv(variable, "1" if variable == "TABSHIP_DRIFT" else "/tmp/elsewhere")
    assert serve_main(["--model", "unused", "--workers", "2"]) == 2
    assert f"{variable} not supported with --workers" in caplog.text


def test_counts_shared_by_workers(tmp_path: Path) -> None:
    counts = SharedCounts.create(3, str(tmp_path))
    first, second = counts.worker(0), counts.worker(1)
    # another process maps the same file from its descriptor (as a worker does)
    third = SharedCounts(os.dup(counts.fd), 3).worker(2)
    first.publish_connections(4)
    first.publish(inflight=2, inflight_rows=70)
    third.publish(inflight=1, inflight_rows=5)
    assert second.connections_elsewhere() == 4
    assert second.inflight_elsewhere() == 3
    assert second.inflight_rows_elsewhere() == 75
    assert first.inflight_rows_elsewhere() == 5  # its own are not "elsewhere"
    counts.clear(0)  # a dead worker's share is gone before its replacement starts
    assert second.connections_elsewhere() == 0
    assert second.inflight_rows_elsewhere() == 5
    counts.count_restart()
    assert third.restarts == 1
    assert third.workers == 3
    counts.close()


def _beating(supervisor: Supervisor, index: int, line: bytes, at: float) -> None:
    worker = supervisor.workers[index]
    worker.line, worker.beat_at, worker.beat_fd = line, at, 99
    worker.process = type("P", (), {"pid": 1000 + index})()  # type: ignore[assignment]


def test_the_probe_answer_is_ready_only_when_every_worker_is(tmp_path: Path) -> None:
    settings = Settings(workers=2, health_stall_s=1.0)
    supervisor = Supervisor(settings, str(tmp_path))
    ready = b'200 {"status":"ready","model":{"name":"m","version":"v"}}'
    now = 100.0
    starting = supervisor.state_line(now)  # no worker has beaten yet
    assert starting.startswith(b"503 ")
    assert json.loads(starting[4:])["error"]["message"] == "worker 1 of 2 is starting"
    _beating(supervisor, 0, ready, now)
    assert b"worker 2 of 2 is starting" in supervisor.state_line(now)
    _beating(supervisor, 1, b'503 {"error":{"code":"not_ready","message":"draining"}}', now)
    assert supervisor.state_line(now).endswith(b'"draining"}}')
    _beating(supervisor, 1, ready, now)
    status, _, body = supervisor.state_line(now).partition(b" ")
    assert status == b"200"
    assert json.loads(body) == {
        "status": "ready",
        "model": {"name": "m", "version": "v"},
        "workers": 2,
    }
    # worker 2's heartbeat is older than the stall limit: the whole server is stalled
    stalled = supervisor.state_line(now + 1.5)
    assert stalled.startswith(STALLED + b" worker 1 of 2 (pid 1000)")
    _beating(supervisor, 0, ready, now + 1.5)
    assert supervisor.state_line(now + 1.5).startswith(STALLED + b" worker 2 of 2 (pid 1001)")


# --- real processes ---------------------------------------------------------------------------


def _start(
    start_server: Any, model: Path, workers: int = 2, env: dict[str, str] | None = None
) -> Server:
    server: Server = start_server(model, {"TABSHIP_WORKERS": str(workers), **(env or {})}, False)
    deadline = time.monotonic() + 60
    while f"all {workers} workers ready" not in server.log:
        assert server.process.poll() is None, server.log
        assert time.monotonic() < deadline, server.log
        time.sleep(0.05)
    return server


def _pids(server: Server) -> dict[int, int]:
    """worker number -> pid of its latest process, from the supervisor's log."""
    pids: dict[int, int] = {}
    for number, pid in re.findall(r"worker (\d+) of \d+ started \(pid (\d+)\)", server.log):
        pids[int(number)] = int(pid)
    return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _post_closing(url: str, timeout: float = 30) -> httpx.Response:
    # a connection per request: the kernel hands each one to whichever worker accepts it
    return httpx.post(
        url + "/v1/predict", json=ROWS, headers={"Connection": "close"}, timeout=timeout
    )


@pytest.mark.server
@pytest.mark.slow
def test_requests_spread_over_the_workers_and_metrics_sum(
    start_server: Any, version_a: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "prom"
    server = _start(start_server, version_a, env={"PROMETHEUS_MULTIPROC_DIR": str(folder)})
    requests = 60
    results: list[int] = []

    def client() -> None:
        for _ in range(requests // 6):
            results.append(_post_closing(server.url).status_code)

    threads = [threading.Thread(target=client) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * requests
    # each worker counted its own requests in its own file ...
    per_worker = {}
    for pid in _pids(server).values():
        values = MmapedDict(str(folder / f"counter_{pid}.db"), read_mode=True)
        per_worker[pid] = sum(
            value
            for key, value, _ in values.read_all_values()
            if json.loads(key)[1:3] == ["tabship_http_requests_total", PREDICT]
        )
        values.close()
    assert len(per_worker) == 2
    assert all(count > 0 for count in per_worker.values()), per_worker  # both served
    # ... and /metrics, from whichever worker answers, is the sum
    text = server.client.get("/metrics", headers={"Connection": "close"}).text
    assert metric(text, "tabship_http_requests_total", **PREDICT) == requests
    assert sum(per_worker.values()) == requests
    assert metric(text, "tabship_rows_scored_total") == requests * len(ROWS)
    assert metric(text, "tabship_workers") == 2
    assert metric(text, "tabship_worker_restarts_total") == 0
    assert metric(text, "tabship_ready") == 1
    assert "process_cpu_seconds_total" not in text  # per-process collectors mean nothing summed


@pytest.mark.server
@pytest.mark.slow
def test_a_killed_worker_is_replaced_while_the_others_answer(
    start_server: Any, version_a: Path
) -> None:
    health = free_port()
    server = _start(
        start_server,
        version_a,
        env={"TABSHIP_TESTONLY_SCORE_DELAY_MS": "20", "TABSHIP_HEALTH_PORT": str(health)},
    )
    victim = _pids(server)[1]
    outcomes: list[tuple[float, float, str]] = []  # (sent, answered, 200 / status / error)
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(timeout=30) as http:
            while not stop.is_set():
                sent = time.monotonic()
                try:
                    answer = http.post(
                        server.url + "/v1/predict", json=ROWS, headers={"Connection": "close"}
                    )
                    outcome = str(answer.status_code)
                except httpx.TransportError as error:
                    outcome = type(error).__name__
                outcomes.append((sent, time.monotonic(), outcome))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    killed_at = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while f"worker 1 of 2 ready (pid {_pids(server)[1]})" not in server.log:
        assert time.monotonic() < deadline, server.log
        time.sleep(0.05)
    replaced_at = time.monotonic()
    time.sleep(1.0)
    stop.set()
    for thread in threads:
        thread.join()
    failed = [o for o in outcomes if o[2] != "200"]
    # only requests the killed worker held can fail: sent before the kill, never an HTTP error
    assert len(failed) <= len(threads), failed
    assert all(sent < killed_at and not reason.isdigit() for sent, _, reason in failed), failed
    during = [o for o in outcomes if killed_at < o[0] and o[1] < replaced_at and o[2] == "200"]
    assert during, "the other worker answered while its peer was being replaced"
    assert [o for o in outcomes if o[0] > replaced_at and o[2] == "200"]
    assert not _alive(victim)
    assert "was killed by signal 9: restarting it" in server.log
    text = server.client.get("/metrics", headers={"Connection": "close"}).text
    assert metric(text, "tabship_worker_restarts_total") == 1
    ok = len(outcomes) - len(failed)
    assert metric(text, "tabship_http_requests_total", **PREDICT) >= ok - len(threads)
    assert httpx.get(f"http://127.0.0.1:{health}/readyz").json()["workers"] == 2


@pytest.mark.server
@pytest.mark.slow
def test_limits_hold_for_the_whole_server(start_server: Any, version_a: Path) -> None:
    server = _start(
        start_server,
        version_a,
        env={
            "TABSHIP_MAX_CONNECTIONS": "4",
            "TABSHIP_MAX_INFLIGHT": "2",
            "TABSHIP_TESTONLY_SCORE_DELAY_MS": "1500",
        },
    )
    held = []
    for _ in range(4):  # idle connections, on whichever worker accepted each
        held.append(socket.create_connection(("127.0.0.1", server.port)))
        time.sleep(0.1)
    try:
        for _ in range(6):  # a fifth is one too many, whichever worker accepts it
            refused = httpx.get(server.url + "/healthz", headers={"Connection": "close"})
            assert refused.status_code == 503
            assert "more than 4 open connections" in refused.json()["error"]["message"]
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    slow: list[int] = []
    scoring = [
        threading.Thread(target=lambda: slow.append(_post_closing(server.url).status_code))
        for _ in range(2)
    ]
    for thread in scoring:
        thread.start()
        time.sleep(0.2)
    overloaded = [_post_closing(server.url) for _ in range(4)]
    for thread in scoring:
        thread.join()
    assert slow == [200, 200]
    assert [r.status_code for r in overloaded] == [503] * 4
    assert all(r.json()["error"]["code"] == "overloaded" for r in overloaded)


@pytest.mark.server
@pytest.mark.slow
def test_a_stalled_worker_stalls_the_probe_port(start_server: Any, version_a: Path) -> None:
    health = free_port()
    server = _start(
        start_server,
        version_a,
        env={"TABSHIP_HEALTH_PORT": str(health), "TABSHIP_HEALTH_STALL_S": "1"},
    )
    probe = f"http://127.0.0.1:{health}"

    def all_ready() -> bool:
        answer = httpx.get(probe + "/readyz")
        return answer.status_code == 200 and answer.json().get("workers") == 2

    # with a 1 s stall bound, a worker slow to its first beats on a loaded machine reads as
    # stalled for a moment: the probe port must settle on ready with both workers first
    wait_until(all_ready, "the probe port ready with 2 workers", timeout=30)
    stuck = _pids(server)[2]
    os.kill(stuck, signal.SIGSTOP)  # its event loop stops: no heartbeat
    try:
        time.sleep(1.6)
        for path in ("/healthz", "/readyz"):
            answer = httpx.get(probe + path)
            assert answer.status_code == 503
            assert answer.json()["error"]["code"] == "stalled"
            assert f"worker 2 of 2 (pid {stuck})" in answer.json()["error"]["message"]
    finally:
        os.kill(stuck, signal.SIGCONT)
    wait_until(all_ready, "the probe port ready again once the worker beats", timeout=30)
    assert httpx.get(probe + "/healthz").status_code == 200


@pytest.mark.server
@pytest.mark.slow
def test_sigterm_drains_every_worker(start_server: Any, version_a: Path) -> None:
    server = _start(
        start_server,
        version_a,
        env={"TABSHIP_TESTONLY_SCORE_DELAY_MS": "800", "TABSHIP_SHUTDOWN_TIMEOUT_S": "20"},
    )
    pids = list(_pids(server).values())
    answers: list[int] = []
    clients = [
        threading.Thread(target=lambda: answers.append(_post_closing(server.url).status_code))
        for _ in range(6)
    ]
    for thread in clients:
        thread.start()
    time.sleep(0.4)  # every request is in flight, spread over both workers
    began = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    for thread in clients:
        thread.join()
    assert server.wait_exit(30) == 0
    assert time.monotonic() - began < 20
    assert answers == [200] * 6  # in-flight requests finished on every worker
    assert not any(_alive(pid) for pid in pids)
    for number in (1, 2):
        assert re.search(rf"worker {number} \(pid \d+\) exited with status 0", server.log)
    assert "all workers stopped" in server.log


@pytest.mark.server
@pytest.mark.slow
def test_sigterm_past_the_shutdown_timeout_leaves_no_worker(
    start_server: Any, version_a: Path
) -> None:
    server = _start(
        start_server,
        version_a,
        env={"TABSHIP_TESTONLY_SCORE_DELAY_MS": "8000", "TABSHIP_SHUTDOWN_TIMEOUT_S": "1"},
    )
    pids = list(_pids(server).values())
    answers: list[httpx.Response] = []
    clients = [
        threading.Thread(target=lambda: answers.append(_post_closing(server.url))) for _ in range(2)
    ]
    for thread in clients:
        thread.start()
    time.sleep(0.5)
    began = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.wait_exit(30) == 0
    assert time.monotonic() - began < 6  # the timeout (1 s) bounds the drain, not the 8 s call
    for thread in clients:
        thread.join()
    assert [a.json()["error"]["code"] for a in answers] == ["shutting_down"] * 2
    assert not any(_alive(pid) for pid in pids)


@pytest.mark.server
def test_a_refused_model_starts_no_worker(
    start_server: Any, registry: Path, version_a: Path
) -> None:
    failed = write_version(
        registry, NAME, "20261126T090000000000Z-9f9f9f9f", threshold=0.5, parity="failed"
    )
    server: Server = start_server(failed, {"TABSHIP_WORKERS": "2"}, False)
    assert server.wait_exit(60) == 1
    assert "refusing to serve the model" in server.log
    assert "started (pid" not in server.log  # nothing was forked before the verdict
    with socket.socket() as taken:  # a probe port that cannot be bound stops it as early
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = start_server(
            version_a, {"TABSHIP_WORKERS": "2", "TABSHIP_HEALTH_PORT": str(port)}, False
        )
        assert busy.wait_exit(60) == 1
    assert "cannot serve the health port" in busy.log
    assert "started (pid" not in busy.log


@pytest.mark.server
@pytest.mark.slow
def test_every_worker_serves_the_grpc_port(start_server: Any, version_a: Path) -> None:
    port = free_port()
    server = _start(start_server, version_a, env={"TABSHIP_GRPC_PORT": str(port)})
    # a channel per call: a new connection each, so both workers' listeners are reached
    for _ in range(6):
        client = triton_grpc.InferenceServerClient(f"127.0.0.1:{port}")
        assert client.is_server_ready()
        client.close()
    text = server.client.get("/metrics", headers={"Connection": "close"}).text
    ready = "/inference.GRPCInferenceService/ServerReady"
    route = {"route": ready, "method": "GRPC", "status": "200"}
    assert metric(text, "tabship_http_requests_total", **route) == 6  # whichever worker took it
    with socket.socket() as taken:  # held by a program that does not share it
        taken.bind(("127.0.0.1", 0))
        busy = start_server(
            version_a,
            {"TABSHIP_WORKERS": "2", "TABSHIP_GRPC_PORT": str(taken.getsockname()[1])},
            False,
        )
        assert busy.wait_exit(60) == 1
    assert "cannot serve gRPC" in busy.log
    assert "started (pid" not in busy.log
