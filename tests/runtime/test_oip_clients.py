"""The reference KServe/Triton client (tritonclient) scores a released model through the
server over HTTP, in JSON mode and in binary mode, and over gRPC: on every row of the parity
gate's consumer fixture (test, boundary, hostile sets), each answer equals onnxruntime run
directly on the same file (max |dP| <= 1e-6, same decisions) and the reference pipeline.

The model is trained here through the real training code on the default declaration (a small
generated data set); release checks point TABSHIP_OIP_MODEL_DIR and TABSHIP_OIP_FIXTURE at the
released default model and its fixture to run the same tests on it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from conftest import Server, free_port

from tabship.contract.values import category_text, number_value

pytestmark = [pytest.mark.server, pytest.mark.slow]

TRAIN_ROWS = 3000
CHUNK = 500  # rows per request (the server's default limit is 1000)
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """(version directory, consumer fixture) of a model that passed the parity gate."""
    given = os.environ.get("TABSHIP_OIP_MODEL_DIR")
    if given:
        fixture_file = Path(os.environ["TABSHIP_OIP_FIXTURE"])
        return Path(given), json.loads(fixture_file.read_text())
    from tabship.cli.main import main
    from tabship.export.artifact import ReleaseCandidate, export_candidate
    from tabship.export.registry import Registry
    from tabship.training.data_sources import table_sha256
    from tabship.training.declaration import load_declaration
    from tabship.training.default_data import generate_sessions
    from tabship.training.prepare import prepare
    from tabship.training.train import train_variant

    declaration = load_declaration()
    frame = generate_sessions(n_rows=TRAIN_ROWS)
    prepared = prepare(frame, declaration, "generated")
    trained = train_variant(prepared, declaration, "full", search_iterations=1)
    data_info = {"source": "generated", "sha256": table_sha256(frame)}
    candidate = ReleaseCandidate.from_trained(trained, data_info, declaration)
    folder = tmp_path_factory.mktemp("released")
    version = export_candidate(candidate, Registry(folder / "registry"))
    fixture_file = folder / "fixture.json"
    code = main(["parity", str(version), "--generated-rows", "200", "--fixture", str(fixture_file)])
    assert code == 0, "the parity gate failed"
    return version, json.loads(fixture_file.read_text())


@pytest.fixture(scope="module")
def served(
    released: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, int]]:
    """The released model served over HTTP and gRPC by one process: (server, gRPC port)."""
    version, _ = released
    log = tmp_path_factory.mktemp("oip-clients") / "server.log"
    port = free_port()
    server = Server(version, log, {"TABSHIP_GRPC_PORT": str(port)}).wait_ready()
    yield server, port
    server.stop()


def feeds(manifest: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """[N, 1] arrays per input, as a client holding the rows builds them (docs/contract.md)."""
    out: dict[str, np.ndarray] = {}
    for entry in manifest["inputs"]:
        values = [row.get(entry["name"]) for row in rows]
        if entry["kind"] == "numeric":
            out[entry["name"]] = np.array([[number_value(v)] for v in values], dtype=np.float64)
        else:
            out[entry["name"]] = np.array([[category_text(v)] for v in values], dtype=object)
    return out


class Expected:
    def __init__(self, version: Path, fixture: dict[str, Any]) -> None:
        self.manifest = json.loads((version / "manifest.json").read_text())
        assert fixture["model"]["sha256"] == self.manifest["onnx"]["sha256"]
        session = ort.InferenceSession(
            str(version / "model.onnx"), providers=["CPUExecutionProvider"]
        )
        self.sets: list[tuple[str, list[dict[str, np.ndarray]], np.ndarray, np.ndarray]] = []
        for entry in fixture["sets"]:
            rows = entry["rows"]
            chunks = [feeds(self.manifest, rows[i : i + CHUNK]) for i in range(0, len(rows), CHUNK)]
            probabilities, decisions = [], []
            for chunk in chunks:
                p, d = session.run(["probabilities", "decision"], chunk)
                probabilities.append(p[:, 1])
                decisions.append(d)
            p1 = np.concatenate(probabilities)
            reference = np.asarray(entry["expected"]["probability"], dtype=np.float64)
            assert np.abs(p1 - reference).max() <= TOLERANCE  # the file itself is at parity
            self.sets.append((entry["name"], chunks, p1, np.concatenate(decisions)))


@pytest.fixture(scope="module")
def expected(released: tuple[Path, dict[str, Any]]) -> Expected:
    return Expected(*released)


def check(
    name: str, p1: np.ndarray, decisions: np.ndarray, want: tuple[np.ndarray, np.ndarray]
) -> None:
    assert p1.shape == want[0].shape, name
    assert np.abs(p1.astype(np.float64) - want[0].astype(np.float64)).max() <= TOLERANCE, name
    assert decisions.tolist() == want[1].tolist(), name


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_http_scores_the_fixture(
    served: tuple[Server, int], expected: Expected, binary: bool
) -> None:
    server, _ = served
    client = triton_http.InferenceServerClient(f"127.0.0.1:{server.port}", network_timeout=60)
    name = expected.manifest["name"]
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(name)
    meta = client.get_model_metadata(name)
    assert [i["name"] for i in meta["inputs"]] == [i["name"] for i in expected.manifest["inputs"]]
    if binary:
        assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    rows = score_sets(client, triton_http, meta, expected, binary)
    assert rows > 100
    client.close()
    assert "Traceback" not in server.log


def test_tritonclient_grpc_scores_the_fixture(
    served: tuple[Server, int], expected: Expected
) -> None:
    server, port = served
    client = triton_grpc.InferenceServerClient(f"127.0.0.1:{port}")
    name = expected.manifest["name"]
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(name)
    meta = client.get_model_metadata(name, as_json=True)
    assert [i["name"] for i in meta["inputs"]] == [i["name"] for i in expected.manifest["inputs"]]
    rows = score_sets(client, triton_grpc, meta, expected, True)
    assert rows > 100
    client.close()
    assert "Traceback" not in server.log


def score_sets(
    client: Any, module: Any, meta: dict[str, Any], expected: Expected, binary: bool
) -> int:
    """Every fixture set through `client`; checked against onnxruntime; rows sent."""
    name = expected.manifest["name"]
    rows = 0
    for set_name, chunks, p1, decisions in expected.sets:
        got_p, got_d = [], []
        for chunk in chunks:
            inputs = []
            for tensor in meta["inputs"]:
                array = chunk[tensor["name"]]
                item = module.InferInput(tensor["name"], list(array.shape), tensor["datatype"])
                if module is triton_http:
                    item.set_data_from_numpy(array, binary_data=binary)
                else:
                    item.set_data_from_numpy(array)
                inputs.append(item)
            if module is triton_http:
                outputs = [
                    module.InferRequestedOutput(o, binary_data=binary)
                    for o in ("probabilities", "decision")
                ]
            else:
                outputs = [module.InferRequestedOutput(o) for o in ("probabilities", "decision")]
            result = client.infer(name, inputs, outputs=outputs, request_id=set_name)
            response = (
                result.get_response(as_json=True)
                if module is triton_grpc
                else result.get_response()
            )
            assert response["id"] == set_name
            got_p.append(result.as_numpy("probabilities")[:, 1])
            got_d.append(result.as_numpy("decision"))
            rows += len(chunk[tensor["name"]])
        check(set_name, np.concatenate(got_p), np.concatenate(got_d), (p1, decisions))
    return rows
