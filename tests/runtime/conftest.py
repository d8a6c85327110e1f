"""Runtime fixtures: contract-shaped fixture models in a throw-away registry; the app in this
process behind Starlette's TestClient (`app_server`, `start_app`) for what a request and its
answer show; and real server processes on 127.0.0.1 (`server`, `start_server`: started with
`python -m runtime.serve`, ready when /readyz says so) for what only a process has: signals and
shutdown, the HTTP connection's limits (runtime/rest/protocol.py), a clean environment, the
model download at start-up, load, gRPC and real clients (tritonclient, schemathesis, a browser).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fixture_model import write_version

from tabship.runtime.model.session import Model
from tabship.runtime.rest.app import create_app
from tabship.runtime.settings import Settings

# Starlette's TestClient would rather run on httpx2; the dev lock has httpx (the same client
# API), and the suite turns every warning into an error: this one is expected, and only this.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient` is deprecated")
    from starlette.testclient import TestClient

REPO = Path(__file__).resolve().parents[2]
NAME = "shoppers-full"
VERSION_A = "20261126T070000000000Z-0a1b2c3d"
VERSION_B = "20261126T080000000000Z-4e5f6a7b"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Polls `condition` until true; fails the test naming `what` after `timeout` seconds."""
    give_up = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < give_up, f"not within {timeout} s: {what}"
        time.sleep(0.02)


class Server:
    def __init__(
        self,
        model: str | Path,
        log: Path,
        env: dict[str, str] | None = None,
        python: str = sys.executable,
        command: list[str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        full_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("TABSHIP_") and k not in ("MODEL_URI", "MODEL_SHA256")
        }
        full_env.update({"TABSHIP_LOG_LEVEL": "info", **(env or {})})
        argv = command or [python, "-m", "tabship.runtime.serve"]
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [*argv, "--model", str(model), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=REPO,
        )
        self.client = httpx.Client(base_url=self.url, timeout=30)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> Server:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log}")
            try:
                if self.client.get("/readyz").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not ready in {timeout} s:\n{self.log}")

    def wait_exit(self, timeout: float = 60) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.client.close()
        self._log.close()
        return self.process.returncode


class AppServer:
    """The app runtime.serve builds (runtime/rest/app.py's factory, the model verified and warmed up
    by Model.load), served in this process through Starlette's TestClient, its lifespan run (so
    /readyz is ready). `env` is read like the process's environment (TABSHIP_* settings). The
    same `client` / `log` / `url` as Server: a test moves between the two by its fixture.
    Nothing of runtime/rest/protocol.py or uvicorn is here (no sockets, no connection limits)."""

    def __init__(self, model: str | Path, env: dict[str, str] | None = None) -> None:
        settings = Settings.from_env(env or {}, model_uri=str(model))
        self.model = Model.load(settings)
        self.app = create_app(settings, self.model)
        self.url = "http://testserver"
        # the app's log (what runtime.serve would print): an error the app catches (the 500
        # handler logs its traceback) shows here as it would in a process's log
        self._lines: list[str] = []
        self._handler = _ListHandler(self._lines)
        self._logger = logging.getLogger("tabship.serve")
        self._level = self._logger.level
        self._logger.addHandler(self._handler)
        self._logger.setLevel(logging.INFO)
        # an exception escaping the app fails the test where it happens
        self.client = TestClient(self.app, base_url=self.url, raise_server_exceptions=True)
        self.client.__enter__()  # the lifespan: ready

    @property
    def log(self) -> str:
        return "\n".join(self._lines)

    def stop(self) -> None:
        try:
            self.client.__exit__(None, None, None)  # the lifespan's end: draining, closed
        finally:
            self._logger.removeHandler(self._handler)
            self._logger.setLevel(self._level)


class _ListHandler(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.INFO)
        self.lines = lines
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("registry")


@pytest.fixture(scope="session")
def version_a(registry: Path) -> Path:
    return write_version(registry, NAME, VERSION_A, threshold=0.35)


@pytest.fixture(scope="session")
def version_b(registry: Path) -> Path:
    return write_version(registry, NAME, VERSION_B, threshold=0.6, bias=-0.5)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[object]:
    started: list[Server] = []

    def start(
        model: str | Path, env: dict[str, str] | None = None, ready: bool = True, **kw: object
    ) -> Server:
        server = Server(model, tmp_path / f"server{len(started)}.log", env, **kw)  # type: ignore[arg-type]
        started.append(server)
        return server.wait_ready() if ready else server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def server(version_a: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One shared server on version A with default settings."""
    running = Server(version_a, tmp_path_factory.mktemp("server") / "server.log").wait_ready()
    yield running
    running.stop()


@pytest.fixture
def start_app() -> Iterator[object]:
    """start_app(model, env) -> AppServer; each stopped at the end of the test."""
    started: list[AppServer] = []

    def start(model: str | Path, env: dict[str, str] | None = None) -> AppServer:
        app = AppServer(model, env)
        started.append(app)
        return app

    yield start
    for app in started:
        app.stop()


@pytest.fixture(scope="session")
def app_server(version_a: Path) -> Iterator[AppServer]:
    """One shared in-process app on version A with default settings."""
    running = AppServer(version_a)
    yield running
    running.stop()
