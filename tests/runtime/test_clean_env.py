"""A fresh virtual environment built by scripts/serve_install.sh (the Dockerfile's install and
start steps) serves a model over HTTP without any training library in the process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import NAME, REPO, VERSION_A

pytestmark = [pytest.mark.server, pytest.mark.slow]

FORBIDDEN = (
    "sklearn",
    "xgboost",
    "pandas",
    "skl2onnx",
    "onnxmltools",
    "joblib",
    "scipy",
    "training",
    "export",
)
SCRIPT = REPO / "scripts" / "serve_install.sh"
PROBE = """
import json, sys
from runtime.app import create_app
from runtime.model import Model
from runtime.schema import InputSchema
from runtime.settings import Settings
settings = Settings.from_env()
model = Model.load(settings)
create_app(settings, model)
feeds, _ = InputSchema(model.inputs).rows_to_feeds([json.loads(sys.argv[1])])
print(json.dumps({"p": float(model.score(feeds).probabilities[0, 1]), "modules": sorted(sys.modules)}))
"""


@pytest.fixture(scope="module")
def serve_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("clean") / "venv"
    env = {**os.environ, "PYTHON": sys.executable}
    env.pop("VIRTUAL_ENV", None)
    result = subprocess.run(
        [str(SCRIPT), "install", str(venv)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd="/",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no training libraries" in result.stdout
    return venv


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
    loaded = {m.split(".")[0] for m in result["modules"]}
    assert not loaded & set(FORBIDDEN), sorted(loaded & set(FORBIDDEN))
    assert {"onnxruntime", "numpy", "starlette", "runtime"} <= loaded
