"""Runtime fixtures: contract-shaped fixture models in a throw-away registry, and real server
processes on 127.0.0.1 (started with `python -m runtime.serve`, ready when /readyz says so)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fixture_model import write_version

REPO = Path(__file__).resolve().parents[2]
NAME = "shoppers-full"
VERSION_A = "20261126T070000000000Z-0a1b2c3d"
VERSION_B = "20261126T080000000000Z-4e5f6a7b"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        argv = command or [python, "-m", "runtime.serve"]
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
