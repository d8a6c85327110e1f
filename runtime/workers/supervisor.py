"""The supervisor of `tabship serve --workers N`: verifies the model once, binds the ports, starts
N worker processes (runtime/workers/worker.py) that serve them together, and watches them.

- Start-up: the model passes every check here (runtime.serve.load_model: download, hashes,
  signature, parity status, graph against manifest, warm-up) before any worker exists, and each
  worker gets those very bytes (handoff.py). A refused model, a port that cannot be bound or a
  worker that fails before all are ready stops everything: exit status 1, no worker left.
- Ports: the HTTP socket is bound here and inherited (the kernel hands each connection to one
  worker); the gRPC port is held bound here with SO_REUSEPORT and each worker listens on it too.
- Probes: each worker's serving loop sends its /readyz state every 0.1 s over a pipe; the probe
  port (TABSHIP_HEALTH_PORT) answers ready only when every worker is, and `stalled` as soon as
  any live worker's heartbeat is older than TABSHIP_HEALTH_STALL_S.
- A worker that exits unasked is restarted at once and counted (tabship_worker_restarts_total);
  one that keeps failing before it is ready is restarted with a growing delay, and after
  MAX_FAILED_STARTS in a row the server stops (exit 1) so that its orchestrator sees it.
- SIGTERM / SIGINT: every worker drains (TABSHIP_DRAIN_S, then in-flight requests within
  TABSHIP_SHUTDOWN_TIMEOUT_S); one still running KILL_GRACE_S later is killed. A second signal
  cuts the drain short.
- Metrics: every worker writes to one prometheus_client multi-process directory
  (PROMETHEUS_MULTIPROC_DIR if set, its stale files removed, else a private one removed at exit)
  and /metrics, from any worker, sums them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import logging
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from types import FrameType
from typing import IO

from prometheus_client import multiprocess

import tabship
from tabship.runtime.dataplane.errors import ModelRefused
from tabship.runtime.health_listener import BEAT_S, STALLED, HealthProcess, bind
from tabship.runtime.serve import EXIT_REFUSED, EXIT_SETTINGS, load_model
from tabship.runtime.settings import Settings
from tabship.runtime.workers.handoff import write_handoff
from tabship.runtime.workers.shared import SharedCounts

log = logging.getLogger("tabship.serve")
METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"
KILL_GRACE_S = 5.0  # past the drain and the shutdown timeout, a worker still running is killed
MAX_FAILED_STARTS = 5  # replacements in a row that die before they are ready: give up
MAX_BACKOFF_S = 10.0
BACKLOG = 2048  # uvicorn's


def supervise(settings: Settings) -> int:
    """Runs the server with settings.workers processes until a signal; the exit status."""
    try:
        folder, owned = _metrics_folder()
    except OSError as error:
        log.error(
            "tabship serve: bad setting: %s=%s: %s", METRICS_DIR, os.environ[METRICS_DIR], error
        )
        return EXIT_SETTINGS
    try:
        return Supervisor(settings, folder).run()
    finally:
        if owned:
            shutil.rmtree(folder, ignore_errors=True)


def _metrics_folder() -> tuple[str, bool]:
    """(folder, made here): the operator's PROMETHEUS_MULTIPROC_DIR with an earlier run's files
    removed (prometheus_client requires it), else a private temporary one."""
    given = os.environ.get(METRICS_DIR)
    if not given:
        return tempfile.mkdtemp(prefix="tabship-serve-"), True
    os.makedirs(given, exist_ok=True)
    stale = [name for name in os.listdir(given) if name.endswith(".db")]
    for name in stale:
        os.remove(os.path.join(given, name))
    if stale:
        log.info("removed %d metrics file(s) of an earlier run from %s", len(stale), given)
    return given, False


def _reserve(host: str, port: int) -> socket.socket:
    """The gRPC port held bound (not listening) with SO_REUSEPORT: the workers listen on it
    too, and no program of another user, nor one without SO_REUSEPORT, can take it."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


class _Worker:
    """One worker slot: its current process and what its heartbeat last said."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.process: subprocess.Popen[bytes] | None = None
        self.beat_fd: int | None = None
        self.pending = b""
        self.line = b""  # the last state line: "STATUS BODY"
        self.beat_at: float | None = None
        self.ready_once = False  # this process has been ready
        self.failed_starts = 0  # replacements in a row that exited before they were ready
        self.restart_at: float | None = None

    @property
    def ready(self) -> bool:
        return self.line.startswith(b"200 ")

    @property
    def alive(self) -> bool:
        return self.process is not None


class Supervisor:
    def __init__(self, settings: Settings, metrics_folder: str) -> None:
        assert settings.workers is not None
        self.settings = settings
        self.folder = metrics_folder
        self.workers = [_Worker(i) for i in range(settings.workers)]
        self.selector = selectors.DefaultSelector()
        self.signals: list[int] = []
        self.stopping = False
        self.failed = False
        self.started = False  # every worker has been ready at once
        self.deadline = 0.0
        self.health: HealthProcess | None = None
        self.http: socket.socket | None = None
        self.grpc: socket.socket | None = None
        self.counts: SharedCounts | None = None
        self.handoff: IO[bytes] | None = None
        root = os.path.dirname(os.path.dirname(os.path.abspath(tabship.__file__)))
        path = os.environ.get("PYTHONPATH")
        self.env = {
            **os.environ,
            METRICS_DIR: metrics_folder,
            # the workers import this very package, wherever it was imported from
            "PYTHONPATH": root if not path else root + os.pathsep + path,
        }

    # -- start-up ---------------------------------------------------------------------------

    def run(self) -> int:
        try:
            if not self._prepare():
                return EXIT_REFUSED
            return self._supervise()
        finally:
            self._close()

    def _prepare(self) -> bool:
        settings = self.settings
        try:
            model = load_model(settings)
        except ModelRefused as error:
            log.error("tabship serve: refusing to serve the model: %s", error)
            return False
        artifact = model.artifact
        del model  # the workers build their own sessions: this one is not kept
        gc.collect()
        try:
            self.http = bind(settings.host, settings.port)
            self.http.listen(BACKLOG)
        except OSError as error:
            log.error(
                "tabship serve: cannot listen on %s:%s: %s", settings.host, settings.port, error
            )
            return False
        port = self.http.getsockname()[1]
        grpc_port = settings.grpc_port
        if grpc_port is not None:
            try:
                self.grpc = _reserve(settings.host, grpc_port)
            except OSError as error:
                log.error("tabship serve: cannot serve gRPC on port %s: %s", grpc_port, error)
                return False
            grpc_port = self.grpc.getsockname()[1]
        if settings.health_port is not None:
            try:
                self.health = HealthProcess(
                    bind(settings.host, settings.health_port),
                    lambda: (503, b""),
                    stall_s=settings.health_stall_s,
                    header_timeout_s=settings.header_timeout_s,
                )
                self.health.launch()
            except OSError as error:
                log.error("tabship serve: cannot serve the health port: %s", error)
                self.health = None
                return False
            log.info("health port %s: /healthz and /readyz for all workers", self.health.port)
        self.settings = dataclasses.replace(settings, port=port, grpc_port=grpc_port)
        self.counts = SharedCounts.create(len(self.workers), self.folder)
        self.handoff = write_handoff(self.settings, artifact, self.folder)
        log.info(
            "serving on http://%s:%s with %d workers (supervisor pid %d)",
            settings.host,
            port,
            len(self.workers),
            os.getpid(),
        )
        return True

    # -- the loop ---------------------------------------------------------------------------

    def _supervise(self) -> int:
        wake_read, wake_write = os.pipe()
        for fd in (wake_read, wake_write):
            os.set_blocking(fd, False)
        previous_wakeup = signal.set_wakeup_fd(wake_write)
        handlers = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        self.selector.register(wake_read, selectors.EVENT_READ, None)
        try:
            for worker in self.workers:
                self._spawn(worker)
            next_beat = time.monotonic()
            while True:
                now = time.monotonic()
                for key, _ in self.selector.select(max(0.0, next_beat - now)):
                    if key.data is None:
                        with contextlib.suppress(BlockingIOError):
                            os.read(wake_read, 512)
                    else:
                        self._read_beats(key.data)
                self._handle_signals()
                self._reap()
                now = time.monotonic()
                if self.stopping:
                    if not any(w.alive for w in self.workers):
                        break
                    if now > self.deadline:
                        self._kill_survivors()
                else:
                    self._note_started()
                    self._restart_due(now)
                if now >= next_beat:
                    self._report(now)
                    next_beat = now + BEAT_S
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(previous_wakeup)
            self.selector.unregister(wake_read)
            os.close(wake_read)
            os.close(wake_write)
        log.info("all workers stopped")
        return EXIT_REFUSED if self.failed else 0

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self.signals.append(sig)

    def _handle_signals(self) -> None:
        while self.signals:
            sig = self.signals.pop(0)
            if not self.stopping:
                log.info("signal %s: draining %d workers", sig, len(self.workers))
                self._stop_all()
            else:  # a second signal: the workers stop waiting for their requests
                log.info("signal %s again: workers stop now", sig)
                self._signal_all(signal.SIGINT)

    def _stop_all(self) -> None:
        settings = self.settings
        self.stopping = True
        self.deadline = (
            time.monotonic() + settings.drain_s + settings.shutdown_timeout_s + KILL_GRACE_S
        )
        for worker in self.workers:
            worker.restart_at = None
        # SIGTERM, never SIGINT: uvicorn takes a second SIGINT (a terminal's Ctrl-C reaching the
        # whole process group) as "stop now"
        self._signal_all(signal.SIGTERM)

    def _signal_all(self, sig: int) -> None:
        for worker in self.workers:
            if worker.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(sig)

    def _kill_survivors(self) -> None:
        for worker in self.workers:
            if worker.process is not None and worker.process.poll() is None:
                log.warning(
                    "worker %d (pid %d) still running %.0f s after the signal: killed",
                    worker.index + 1,
                    worker.process.pid,
                    self.settings.drain_s + self.settings.shutdown_timeout_s + KILL_GRACE_S,
                )
                worker.process.kill()
        self.deadline = float("inf")  # reaped on the next turns

    # -- workers ----------------------------------------------------------------------------

    def _spawn(self, worker: _Worker) -> None:
        assert self.http is not None
        assert self.counts is not None
        assert self.handoff is not None
        beat_read, beat_write = os.pipe()
        os.set_blocking(beat_read, False)
        fds = (self.http.fileno(), beat_write, self.handoff.fileno(), self.counts.fd)
        self.counts.clear(worker.index)
        try:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tabship.runtime.workers.worker",
                    str(worker.index),
                    *map(str, fds),
                ],
                pass_fds=fds,
                stdin=subprocess.DEVNULL,
                env=self.env,
                # a terminal's Ctrl-C reaches the supervisor alone, which tells the workers
                process_group=0,
            )
        except OSError:
            os.close(beat_read)
            raise
        finally:
            os.close(beat_write)
        worker.process = process
        worker.beat_fd = beat_read
        worker.pending = worker.line = b""
        worker.beat_at = None
        worker.ready_once = False
        worker.restart_at = None
        self.counts.clear(worker.index, process.pid)
        self.selector.register(beat_read, selectors.EVENT_READ, worker)
        log.info(
            "worker %d of %d started (pid %d)", worker.index + 1, len(self.workers), process.pid
        )

    def _read_beats(self, worker: _Worker) -> None:
        assert worker.beat_fd is not None
        try:
            data = os.read(worker.beat_fd, 65536)
        except BlockingIOError:
            return
        if not data:  # the worker closed its end: it is stopping
            self._close_beats(worker)
            return
        *lines, worker.pending = (worker.pending + data).split(b"\n")
        if lines:
            worker.line = lines[-1]
            worker.beat_at = time.monotonic()
            if worker.ready and not worker.ready_once:
                worker.ready_once = True
                worker.failed_starts = 0
                if self.started:  # a replacement
                    assert worker.process is not None
                    log.info(
                        "worker %d of %d ready (pid %d)",
                        worker.index + 1,
                        len(self.workers),
                        worker.process.pid,
                    )

    def _close_beats(self, worker: _Worker) -> None:
        if worker.beat_fd is not None:
            self.selector.unregister(worker.beat_fd)
            os.close(worker.beat_fd)
            worker.beat_fd = None

    def _reap(self) -> None:
        for worker in self.workers:
            process = worker.process
            if process is None or process.poll() is None:
                continue
            self._forget(worker)
            how = (
                f"was killed by signal {-process.returncode}"
                if process.returncode < 0
                else f"exited with status {process.returncode}"
            )
            name = f"worker {worker.index + 1} (pid {process.pid})"
            if self.stopping:
                log.info("%s %s", name, how)
            elif not self.started:
                log.error("%s %s during start-up: stopping the server", name, how)
                self._fail()
            else:
                if not worker.ready_once:
                    worker.failed_starts += 1
                if worker.failed_starts >= MAX_FAILED_STARTS:
                    log.error(
                        "%s %s; %d replacements in a row exited before they were ready: "
                        "stopping the server",
                        name,
                        how,
                        worker.failed_starts,
                    )
                    self._fail()
                    continue
                delay = (
                    0.0
                    if worker.failed_starts == 0
                    else min(MAX_BACKOFF_S, 0.1 * 2**worker.failed_starts)
                )
                log.warning("%s %s: restarting it in %.1f s", name, how, delay)
                worker.restart_at = time.monotonic() + delay

    def _forget(self, worker: _Worker) -> None:
        """A worker process that has exited: its pipe, its gauges, its share of the limits."""
        assert worker.process is not None
        assert self.counts is not None
        self._close_beats(worker)
        multiprocess.mark_process_dead(worker.process.pid, self.folder)
        self.counts.clear(worker.index)
        worker.process = None
        worker.line = b""
        worker.beat_at = None

    def _fail(self) -> None:
        self.failed = True
        self._stop_all()

    def _restart_due(self, now: float) -> None:
        for worker in self.workers:
            if worker.restart_at is not None and worker.restart_at <= now:
                assert self.counts is not None
                self.counts.count_restart()
                try:
                    self._spawn(worker)
                except OSError as error:
                    log.error("worker %d cannot be started: %s", worker.index + 1, error)
                    worker.failed_starts += 1
                    worker.restart_at = now + MAX_BACKOFF_S

    def _note_started(self) -> None:
        if not self.started and all(w.ready for w in self.workers):
            self.started = True
            log.info("all %d workers ready", len(self.workers))

    # -- the probe port ---------------------------------------------------------------------

    def _report(self, now: float) -> None:
        if self.health is not None:
            self.health.write(self.state_line(now) + b"\n")

    def state_line(self, now: float) -> bytes:
        """What the probe port answers: `stalled` when a live worker's heartbeat stopped; 503
        until every worker is ready (the first not-ready worker's own answer, if it has one);
        else a worker's ready answer with the number of workers."""
        total = len(self.workers)
        stall_s = self.settings.health_stall_s
        for worker in self.workers:
            if worker.beat_fd is not None and worker.beat_at is not None:
                stuck = now - worker.beat_at
                if stuck > stall_s:
                    assert worker.process is not None
                    return STALLED + (
                        b" worker %d of %d (pid %d): its event loop has not run for %.1f s"
                        % (worker.index + 1, total, worker.process.pid, stuck)
                    )
        for worker in self.workers:
            if not worker.ready:
                if worker.line.startswith(b"503 "):
                    return worker.line
                state = "stopped" if self.stopping else "starting"
                message = f"worker {worker.index + 1} of {total} is {state}"
                refusal = {"error": {"code": "not_ready", "message": message}}
                return b"503 " + json.dumps(refusal, separators=(",", ":")).encode()
        _, _, body = self.workers[0].line.partition(b" ")
        try:
            answer = json.loads(body)
            answer["workers"] = total
            body = json.dumps(answer, separators=(",", ":")).encode()
        except (ValueError, TypeError):
            pass
        return b"200 " + body

    # -- the end ----------------------------------------------------------------------------

    def _close(self) -> None:
        for worker in self.workers:  # only after a failure in this very function's callers
            if worker.process is not None and worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait()
            self._close_beats(worker)
        if self.health is not None:
            self.health.stop()
        for resource in (self.http, self.grpc, self.handoff):
            if resource is not None:
                resource.close()
        if self.counts is not None:
            self.counts.close()
        self.selector.close()
