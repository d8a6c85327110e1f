"""A multiclass model served: /v1/predict answers probabilities keyed by class name and the label
as the class name; /v1/metadata and /openapi.json describe the K classes (the app in this
process); the Open Inference Protocol (tritonclient over HTTP JSON, HTTP binary and gRPC) returns
probabilities [N, K], label (class index) and decision (class name), and concurrent requests
share batches (a real server process). Every answer equals onnxruntime run directly on the file
and the reference pipeline (max |dP| <= 1e-6)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from conftest import AppServer, Server, free_port

from tabship.parity_tests.compare import feeds_for
from tabship.parity_tests.gate import consumer_fixture
from tabship.runtime.model.session import session_options

pytestmark = pytest.mark.slow
TOLERANCE = 1e-6
CHUNK = 500


class Served:
    def __init__(self, version: Any, server: Server | AppServer, grpc_port: int = 0) -> None:
        self.version = version
        self.server = server
        self.grpc_port = grpc_port
        self.manifest = json.loads((version.version_dir / "manifest.json").read_text())
        self.classes: list[str] = self.manifest["target"]["classes"]
        self.fixture = consumer_fixture(version.gate, self.manifest)
        # the server's own session options: with more threads a sum can move by one ulp
        self.session = ort.InferenceSession(
            str(version.version_dir / "model.onnx"), sess_options=session_options(1)
        )

    def direct(self, rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import pandas as pd

        names = [i["name"] for i in self.manifest["inputs"]]
        frame = pd.DataFrame([{n: row.get(n) for n in names} for row in rows], columns=names)
        label, probabilities, decision = self.session.run(
            ["label", "probabilities", "decision"], feeds_for(self.session, frame)
        )
        return probabilities, label, decision


MODELS = ["penguins_version", "failures_version"]


@pytest.fixture(scope="module", params=MODELS)
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    """The app in this process: what /v1 and the documents answer."""
    version = request.getfixturevalue(request.param)
    app = AppServer(version.version_dir)
    yield Served(version, app)
    app.stop()


@pytest.fixture(scope="module", params=MODELS)
def served_process(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A real server process with gRPC: for tritonclient and concurrent connections."""
    version = request.getfixturevalue(request.param)
    port = free_port()
    log = tmp_path_factory.mktemp("multiclass-server") / "server.log"
    server = Server(version.version_dir, log, {"TABSHIP_GRPC_PORT": str(port)}).wait_ready()
    yield Served(version, server, port)
    server.stop()


def test_predict_answers_probabilities_by_class_name(served: Served) -> None:
    rows = served.fixture["sets"][0]["rows"][:50]
    expected = np.asarray(served.fixture["sets"][0]["expected"]["probabilities"][:50])
    body = served.server.client.post("/v1/predict", json=rows).json()
    assert body["classes"] == served.classes
    assert "threshold" not in body
    got = np.array([[p["probabilities"][c] for c in served.classes] for p in body["predictions"]])
    assert np.abs(got - expected).max() <= TOLERANCE
    assert [p["label"] for p in body["predictions"]] == [
        served.classes[i] for i in np.argmax(expected, axis=1)
    ]
    single = served.server.client.post("/v1/predict", json=rows[0]).json()
    assert set(single) >= {"model", "classes", "probabilities", "label"}
    assert list(single["probabilities"]) == served.classes
    assert single["label"] == body["predictions"][0]["label"]
    assert sum(single["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_every_fixture_row_scores_as_onnxruntime_does(served: Served) -> None:
    for entry in served.fixture["sets"]:
        rows = entry["rows"]
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            answer = served.server.client.post("/v1/predict", json=chunk)
            assert answer.status_code == 200, answer.text
            predictions = answer.json()["predictions"]
            got = np.array([[p["probabilities"][c] for c in served.classes] for p in predictions])
            probabilities, _, decision = served.direct(chunk)
            reference = np.asarray(entry["expected"]["probabilities"][start : start + CHUNK])
            assert np.abs(got - probabilities).max() == 0.0, entry["name"]
            assert np.abs(got - reference).max() <= TOLERANCE, entry["name"]
            assert [p["label"] for p in predictions] == decision.tolist()


def test_metadata_and_openapi_describe_the_classes(served: Served) -> None:
    client = served.server.client
    meta = client.get("/v1/metadata").json()
    assert meta["target"]["classes"] == served.classes
    assert "threshold" not in meta
    assert list(meta["metrics_per_class"]) == served.classes
    document = client.get("/openapi.json").json()
    k = len(served.classes)
    infer = document["paths"]["/v2/models/{name}/infer"]["post"]["responses"]["200"]
    outputs = infer["content"]["application/json"]["schema"]["properties"]["outputs"]
    assert f"probabilities FP32 [N, {k}]" in outputs["description"]
    schema = document["paths"]["/v1/predict"]["post"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]
    rows = served.fixture["sets"][0]["rows"][:3]
    jsonschema.validate(client.post("/v1/predict", json=rows).json(), schema)
    jsonschema.validate(client.post("/v1/predict", json=rows[0]).json(), schema)
    wrong = client.post("/v1/predict", json=rows[0]).json()
    wrong["label"] = "not-a-class"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, schema)
    oip = client.get(f"/v2/models/{served.manifest['name']}").json()
    columns = len(dict.fromkeys(served.manifest["explanations"]["groups"]))  # raw, derived
    assert {o["name"]: (o["datatype"], o["shape"]) for o in oip["outputs"]} == {
        "probabilities": ("FP32", [-1, k]),
        "label": ("INT64", [-1]),
        "decision": ("BYTES", [-1]),
        # asked for by name or `explain`: per class, each column's contribution and the bias
        "contributions": ("FP64", [-1, k, columns + 1]),
    }


def test_bad_rows_are_still_a_422_naming_the_column(served: Served) -> None:
    row = dict(served.fixture["sets"][0]["rows"][0])
    numeric = next(i["name"] for i in served.manifest["inputs"] if i["kind"] == "numeric")
    row[numeric] = {"nested": 1}
    answer = served.server.client.post("/v1/predict", json=row)
    assert answer.status_code == 422
    assert numeric in answer.text


def _oip_inputs(
    module: Any, meta: dict[str, Any], served: Served, rows: list[dict[str, Any]], binary: bool
) -> list[Any]:
    import pandas as pd

    names = [i["name"] for i in served.manifest["inputs"]]
    frame = pd.DataFrame([{n: row.get(n) for n in names} for row in rows], columns=names)
    feeds = feeds_for(served.session, frame)
    inputs = []
    for tensor in meta["inputs"]:
        array = feeds[tensor["name"]]
        item = module.InferInput(tensor["name"], list(array.shape), tensor["datatype"])
        if module is triton_http:
            item.set_data_from_numpy(array, binary_data=binary)
        else:
            item.set_data_from_numpy(array)
        inputs.append(item)
    return inputs


@pytest.mark.parametrize("transport", ["http-json", "http-binary", "grpc"])
@pytest.mark.server
def test_tritonclient_reads_k_columns_and_class_names(
    served_process: Served, transport: str
) -> None:
    name = served_process.manifest["name"]
    binary = transport != "http-json"
    if transport == "grpc":
        module: Any = triton_grpc
        client: Any = triton_grpc.InferenceServerClient(f"127.0.0.1:{served_process.grpc_port}")
        meta = client.get_model_metadata(name, as_json=True)
    else:
        module = triton_http
        client = triton_http.InferenceServerClient(f"127.0.0.1:{served_process.server.port}")
        meta = client.get_model_metadata(name)
    for entry in served_process.fixture["sets"]:
        rows = entry["rows"][:CHUNK]
        if module is triton_http:
            outputs = [
                module.InferRequestedOutput(o, binary_data=binary)
                for o in ("probabilities", "label", "decision")
            ]
        else:
            outputs = [
                module.InferRequestedOutput(o) for o in ("probabilities", "label", "decision")
            ]
        result = client.infer(
            name, _oip_inputs(module, meta, served_process, rows, binary), outputs=outputs
        )
        probabilities, label, decision = served_process.direct(rows)
        got = result.as_numpy("probabilities")
        assert got.shape == (len(rows), len(served_process.classes))
        assert np.abs(got.astype(np.float64) - probabilities).max() == 0.0
        assert result.as_numpy("label").tolist() == label.tolist()
        names = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("decision")]
        assert names == decision.tolist()
        assert set(names) <= set(served_process.classes)
    client.close()
    assert "Traceback" not in served_process.server.log


@pytest.mark.server
def test_concurrent_requests_are_batched_and_split_back_by_row(served_process: Served) -> None:
    """The micro-batcher stacks requests and slices the outputs (class names included) back."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    rows = served_process.fixture["sets"][0]["rows"][:48]
    _, _, decision = served_process.direct(rows)

    def one(i: int) -> tuple[int, dict[str, Any]]:
        with httpx.Client(base_url=served_process.server.url, timeout=30) as client:
            return i, client.post("/v1/predict", json=rows[i : i + 3]).json()

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(0, len(rows), 3)))
    for i, body in answers:
        assert [p["label"] for p in body["predictions"]] == decision[i : i + 3].tolist()
    metrics = served_process.server.client.get("/metrics").text
    assert "tabship_inference_batch_rows_count" in metrics
