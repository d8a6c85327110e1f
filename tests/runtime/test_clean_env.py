"""A fresh virtual environment built by scripts/serve_install.sh (the Dockerfile's install and
start steps) serves a model over HTTP without any training library in the process; the plain
serve install holds no grpcio nor cryptography (TABSHIP_TRUSTED_KEYS then refuses clearly), and
the serve+grpc install (`install VENV grpc`) also serves
the Open Inference Protocol over gRPC, still without any training library."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import NAME, REPO, VERSION_A, free_port
from docker_context import build_context

pytestmark = [pytest.mark.server, pytest.mark.slow]

FORBIDDEN = (
    "sklearn",
    "xgboost",
    "pandas",
    "skl2onnx",
    "onnxmltools",
    "joblib",
    "scipy",
    "tabship.training",
    "tabship.export",
    "tabship.parity_tests",
    "tabship.release",
)
# the packages only the training side needs: the image's build context leaves them out
TRAINING_PACKAGES = ("training", "export", "parity_tests", "release")
SCRIPT = REPO / "scripts" / "serve_install.sh"
PROBE = """
import json, sys
from tabship.runtime.rest.app import create_app
from tabship.runtime.model.session import Model
from tabship.runtime.model.schema import InputSchema
from tabship.runtime.settings import Settings
settings = Settings.from_env()
model = Model.load(settings)
create_app(settings, model)
feeds, _ = InputSchema(model.inputs).rows_to_feeds([json.loads(sys.argv[1])])
print(json.dumps({"p": float(model.score(feeds).probabilities[0, 1]), "modules": sorted(sys.modules)}))
"""


def install(tmp_path_factory: pytest.TempPathFactory, *role: str) -> Path:
    """serve_install.sh run from a copy of the Docker build context, as the image build runs it."""
    root = tmp_path_factory.mktemp("clean")
    context = build_context(root / "context")
    venv = root / "venv"
    env = {**os.environ, "PYTHON": sys.executable}
    env.pop("VIRTUAL_ENV", None)
    result = subprocess.run(
        [str(context / "scripts" / "serve_install.sh"), "install", str(venv), *role],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd="/",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no training libraries" in result.stdout
    site = next((venv / "lib").glob("python3*/site-packages"))
    shipped = [name for name in TRAINING_PACKAGES if (site / "tabship" / name).exists()]
    assert not shipped, f"the serving install holds training-side packages {shipped}"
    assert (site / "tabship" / "runtime" / "rest" / "app.py").is_file()
    return venv


@pytest.fixture(scope="module")
def serve_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install(tmp_path_factory)


@pytest.fixture(scope="module")
def grpc_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install(tmp_path_factory, "grpc")


def installed(venv: Path) -> set[str]:
    listed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return {p["name"].lower() for p in json.loads(listed.stdout)}


def server_maps(server: Any) -> tuple[str, str]:
    """(interpreter, /proc maps) of the serving process itself."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    server_pid = int(children[0]) if children else pid  # `start` execs, so usually pid itself
    return os.readlink(f"/proc/{server_pid}/exe"), Path(f"/proc/{server_pid}/maps").read_text()


def test_clean_environment_serves_without_training_libraries(
    serve_venv: Path, version_a: Path, start_server: Any
) -> None:
    python = serve_venv / "bin" / "python"
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    installed = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert not installed & {
        "scikit-learn",
        "xgboost",
        "pandas",
        "scipy",
        "skl2onnx",
        "onnxmltools",
        "joblib",
        "onnx",
    }

    server = start_server(version_a, command=[str(SCRIPT), "start", str(serve_venv)])
    row = {
        "PageValues": 10,
        "ExitRates": None,
        "Administrative": 3,
        "Month": "nov",
        "VisitorType": "new_visitor",
        "OperatingSystems": None,
    }
    response = server.client.post("/v1/predict", json=row)
    assert response.status_code == 200, response.text
    assert response.json()["model"] == {"name": NAME, "version": VERSION_A}

    # the serving process itself: its interpreter and every shared library it has mapped
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    server_pid = int(children[0]) if children else pid  # `start` execs, so usually pid itself
    exe = os.readlink(f"/proc/{server_pid}/exe")
    assert Path(exe).resolve() == python.resolve()
    maps = Path(f"/proc/{server_pid}/maps").read_text()
    for name in ("sklearn", "xgboost", "pandas", "scipy", "skl2onnx", "onnxmltools"):
        assert f"/{name}/" not in maps, name
    assert "onnxruntime" in maps

    # the same import graph, scored in one shot, then sys.modules inspected
    probe = subprocess.run(
        [str(python), "-c", PROBE, json.dumps(row)],
        capture_output=True,
        text=True,
        env={"MODEL_URI": str(version_a), "PATH": os.environ["PATH"]},
        cwd="/",
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    result = json.loads(probe.stdout)
    assert result["p"] == response.json()["probability"]
    loaded = {m.split(".")[0] for m in result["modules"]} | {
        ".".join(m.split(".")[:2]) for m in result["modules"]
    }
    assert not loaded & set(FORBIDDEN), sorted(loaded & set(FORBIDDEN))
    assert {"onnxruntime", "numpy", "starlette", "tabship.runtime"} <= loaded


def test_plain_serve_install_has_no_grpc(
    serve_venv: Path, version_a: Path, start_server: Any
) -> None:
    assert "grpcio" not in installed(serve_venv)
    server = start_server(
        version_a,
        {"TABSHIP_GRPC_PORT": str(free_port())},
        ready=False,
        command=[str(SCRIPT), "start", str(serve_venv)],
    )
    assert server.wait_exit() == 2
    assert "needs the grpc extra" in server.log
    assert "Traceback" not in server.log


def test_plain_serve_install_refuses_trusted_keys_without_the_sign_extra(
    serve_venv: Path, version_a: Path, start_server: Any, tmp_path: Path
) -> None:
    assert "cryptography" not in installed(serve_venv)
    keys = tmp_path / "trusted.pub"
    keys.write_text("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n")
    server = start_server(
        version_a,
        {"TABSHIP_TRUSTED_KEYS": str(keys)},
        ready=False,
        command=[str(SCRIPT), "start", str(serve_venv)],
    )
    assert server.wait_exit() == 1
    errors = [line for line in server.log.splitlines() if "ERROR" in line]
    assert len(errors) == 1, server.log
    assert "need the optional sign extra (cryptography is not installed)" in errors[0]
    assert "Traceback" not in server.log


def test_serve_and_grpc_install_serves_grpc_without_training_libraries(
    grpc_venv: Path, version_a: Path, start_server: Any
) -> None:
    import numpy as np
    import tritonclient.grpc as triton_grpc

    packages = installed(grpc_venv)
    assert "grpcio" in packages
    assert not packages & {"scikit-learn", "xgboost", "pandas", "scipy", "skl2onnx", "joblib"}
    port = free_port()
    server = start_server(
        version_a,
        {"TABSHIP_GRPC_PORT": str(port)},
        command=[str(SCRIPT), "start", str(grpc_venv)],
    )
    row = {
        "PageValues": 10.0,
        "ExitRates": None,
        "Administrative": 3.0,
        "Month": "nov",
        "VisitorType": "new_visitor",
        "OperatingSystems": None,
    }
    http = server.client.post("/v1/predict", json=row).json()["probability"]
    client = triton_grpc.InferenceServerClient(f"127.0.0.1:{port}")
    inputs = []
    for name, value in row.items():
        numeric = name in ("PageValues", "ExitRates", "Administrative")
        array = (
            np.array([[np.nan if value is None else value]], dtype=np.float64)
            if numeric
            else np.array([[value or ""]], dtype=object)
        )
        item = triton_grpc.InferInput(name, [1, 1], "FP64" if numeric else "BYTES")
        item.set_data_from_numpy(array)
        inputs.append(item)
    result = client.infer(NAME, inputs)
    assert float(result.as_numpy("probabilities")[0, 1]) == http
    exe, maps = server_maps(server)
    assert Path(exe).resolve() == (grpc_venv / "bin" / "python").resolve()
    for name in ("sklearn", "xgboost", "pandas", "scipy", "skl2onnx", "onnxmltools"):
        assert f"/{name}/" not in maps, name
    assert "/grpc/" in maps  # grpcio's extension is loaded in the serving process


def test_import_tabship_works_anywhere_in_the_serve_install(serve_venv: Path) -> None:
    python = serve_venv / "bin" / "python"
    done = subprocess.run(
        [str(python), "-c", "import sys, tabship; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        cwd="/",
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    assert "tabship" in loaded
    heavy = {"sklearn", "xgboost", "pandas", "onnxruntime", "numpy", "tabship.training"}
    assert not loaded & heavy, sorted(loaded & heavy)
