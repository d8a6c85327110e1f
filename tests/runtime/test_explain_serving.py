"""/v1/predict?explain=k|all: each row's contributions (margin scale, with the bias) from the
served explainer, equal to xgboost's pred_contribs summed per column; refusals by name."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from conftest import AppServer

from tabship.runtime.model.schema import InputSchema

pytestmark = pytest.mark.slow
UNGATED = {"TABSHIP_ALLOW_UNGATED": "1"}
FLOAT32_NOISE = 1e-5


def json_rows(manifest: dict[str, Any], frame: pd.DataFrame, n: int) -> list[dict[str, Any]]:
    """The first `n` rows of `frame` the server accepts, as a JSON client sends them."""
    rows = []
    for record in frame.to_dict("records"):
        rows.append(
            {
                k: None if isinstance(v, float) and math.isnan(v) else v
                for k, v in record.items()
                if k in {i["name"] for i in manifest["inputs"]}
            }
        )
    good = InputSchema(manifest["inputs"]).mask_rows(rows).good.tolist()
    return [r for r, ok in zip(rows, good, strict=True) if ok][:n]


def reference_by_column(
    pipeline: Any, manifest: dict[str, Any], rows: list[dict[str, Any]]
) -> tuple[np.ndarray, np.ndarray]:
    """xgboost's pred_contribs of the reference pipeline, summed per column: ([rows, scores,
    columns], bias [scores])."""
    frame = pd.DataFrame(rows, columns=[i["name"] for i in manifest["inputs"]])
    x = pipeline[:-1].transform(frame).astype(np.float32)
    contribs = pipeline[-1].get_booster().predict(xgb.DMatrix(x), pred_contribs=True)
    if contribs.ndim == 2:
        contribs = contribs[:, None, :]
    groups = manifest["explanations"]["groups"]
    columns = list(dict.fromkeys(groups))
    fold = np.zeros((len(groups), len(columns)))
    fold[np.arange(len(groups)), [columns.index(g) for g in groups]] = 1.0
    return contribs[:, :, :-1].astype(np.float64) @ fold, contribs[0, :, -1]


@pytest.fixture(scope="module")
def binary(exported: Any) -> Iterator[tuple[AppServer, dict[str, Any]]]:
    app = AppServer(exported.version_dir, UNGATED)
    yield app, json.loads((exported.version_dir / "manifest.json").read_text())
    app.stop()


def test_top_k_and_all(binary: tuple[AppServer, dict[str, Any]], exported: Any) -> None:
    app, manifest = binary
    rows = json_rows(manifest, exported.test_frame, 20)
    columns = list(dict.fromkeys(manifest["explanations"]["groups"]))
    reference, bias = reference_by_column(exported.pipeline, manifest, rows)

    answer = app.client.post("/v1/predict?explain=all", json=rows)
    assert answer.status_code == 200, answer.text
    for i, item in enumerate(answer.json()["predictions"]):
        explained = item["contributions"]
        assert explained["scale"] == "margin"
        assert "rest" not in explained
        assert list(explained["values"]) == sorted(
            explained["values"], key=lambda c: -abs(explained["values"][c])
        )
        served = np.array([explained["values"][c] for c in columns])
        assert np.abs(served - reference[i, 0]).max() <= FLOAT32_NOISE
        assert abs(explained["bias"] - bias[0]) <= FLOAT32_NOISE
        assert explained["margin"] == pytest.approx(explained["bias"] + served.sum(), abs=1e-9)
        # the margin is the log-odds of the probability the same call returned
        assert 1 / (1 + math.exp(-explained["margin"])) == pytest.approx(
            item["probability"], abs=1e-6
        )

    one = app.client.post("/v1/predict?explain=3", json=rows[0]).json()
    top = one["contributions"]
    assert len(top["values"]) == 3
    order = np.argsort(-np.abs(reference[0, 0]), kind="stable")
    assert set(top["values"]) == {columns[i] for i in order[:3]}
    assert top["bias"] + sum(top["values"].values()) + top["rest"] == pytest.approx(
        top["margin"], abs=1e-9
    )


def test_by_feature(binary: tuple[AppServer, dict[str, Any]], exported: Any) -> None:
    app, manifest = binary
    row = json_rows(manifest, exported.test_frame, 1)[0]
    answer = app.client.post("/v1/predict?explain=all&explain_by=feature", json=row).json()
    values = answer["contributions"]["values"]
    assert set(values) == set(manifest["explanations"]["features"])
    by_column = app.client.post("/v1/predict?explain=all", json=row).json()["contributions"]
    month = [
        f
        for f, g in zip(
            manifest["explanations"]["features"], manifest["explanations"]["groups"], strict=True
        )
        if g == "Month"
    ]
    assert sum(values[f] for f in month) == pytest.approx(by_column["values"]["Month"], abs=1e-12)


def test_without_the_option_nothing_changes(
    binary: tuple[AppServer, dict[str, Any]], exported: Any
) -> None:
    app, manifest = binary
    rows = json_rows(manifest, exported.test_frame, 5)
    plain = app.client.post("/v1/predict", json=rows).json()
    explained = app.client.post("/v1/predict?explain=2", json=rows).json()
    assert all("contributions" not in p for p in plain["predictions"])
    for a, b in zip(plain["predictions"], explained["predictions"], strict=True):
        assert a["probability"] == b["probability"]
        assert a["label"] == b["label"]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("explain=0", "'explain'"),
        ("explain=-1", "'explain'"),
        ("explain=top", "'explain'"),
        ("explain=1.5", "'explain'"),
        ("explain=all&explain_by=leaf", "'explain_by'"),
        ("explain_by=feature", "'explain_by' needs 'explain'"),
    ],
)
def test_bad_options_are_refused_by_name(
    binary: tuple[AppServer, dict[str, Any]], exported: Any, query: str, named: str
) -> None:
    app, manifest = binary
    row = json_rows(manifest, exported.test_frame, 1)[0]
    answer = app.client.post(f"/v1/predict?{query}", json=row)
    assert answer.status_code == 400
    assert named in answer.json()["error"]["message"]


def test_a_version_without_explainer_says_so(app_server: AppServer) -> None:
    answer = app_server.client.post("/v1/predict?explain=3", json={})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "no_explainer"
    assert "re-export" in answer.json()["error"]["message"]


def test_multiclass_one_set_per_class(penguins_version: Any) -> None:
    app = AppServer(penguins_version.version_dir)
    try:
        manifest = json.loads((penguins_version.version_dir / "manifest.json").read_text())
        classes = manifest["target"]["classes"]
        rows = json_rows(manifest, penguins_version.trained.test_frame, 10)
        reference, bias = reference_by_column(penguins_version.trained.pipeline, manifest, rows)
        columns = list(dict.fromkeys(manifest["explanations"]["groups"]))
        answer = app.client.post("/v1/predict?explain=all", json=rows)
        assert answer.status_code == 200, answer.text
        for i, item in enumerate(answer.json()["predictions"]):
            per_class = item["contributions"]["classes"]
            assert list(per_class) == classes
            margins = []
            for k, name in enumerate(classes):
                served = np.array([per_class[name]["values"][c] for c in columns])
                assert np.abs(served - reference[i, k]).max() <= FLOAT32_NOISE
                assert abs(per_class[name]["bias"] - bias[k]) <= FLOAT32_NOISE
                margins.append(per_class[name]["margin"])
            softmax = np.exp(np.array(margins) - max(margins))
            softmax /= softmax.sum()
            expected = [item["probabilities"][c] for c in classes]
            np.testing.assert_allclose(softmax, expected, rtol=0, atol=1e-6)
    finally:
        app.stop()


def oip_inputs(manifest: dict[str, Any], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    inputs = []
    for entry in manifest["inputs"]:
        values = [r[entry["name"]] for r in rows]
        if entry["kind"] == "numeric":
            data: list[Any] = [None if v is None else float(v) for v in values]
            datatype = "FP64"
        else:
            data, datatype = ["" if v is None else str(v) for v in values], "BYTES"
        inputs.append(
            {"name": entry["name"], "datatype": datatype, "shape": [len(rows), 1], "data": data}
        )
    return inputs


def test_oip_rest_contributions_output(
    binary: tuple[AppServer, dict[str, Any]], exported: Any
) -> None:
    app, manifest = binary
    rows = json_rows(manifest, exported.test_frame, 8)
    reference, bias = reference_by_column(exported.pipeline, manifest, rows)
    columns = list(dict.fromkeys(manifest["explanations"]["groups"]))
    url = f"/v2/models/{manifest['name']}/infer"
    meta = app.client.get(f"/v2/models/{manifest['name']}").json()
    described = next(o for o in meta["outputs"] if o["name"] == "contributions")
    assert described == {
        "name": "contributions",
        "datatype": "FP64",
        "shape": [-1, len(columns) + 1],
    }
    assert meta["parameters"]["contributions"]["columns"] == [*columns, "bias"]

    plain = app.client.post(url, json={"inputs": oip_inputs(manifest, rows)}).json()
    assert [o["name"] for o in plain["outputs"]] == ["probabilities", "label", "decision"]
    for body in (
        {"inputs": oip_inputs(manifest, rows), "parameters": {"explain": True}},
        {"inputs": oip_inputs(manifest, rows), "outputs": [{"name": "contributions"}]},
    ):
        answer = app.client.post(url, json=body)
        assert answer.status_code == 200, answer.text
        output = next(o for o in answer.json()["outputs"] if o["name"] == "contributions")
        assert output["shape"] == [len(rows), len(columns) + 1]
        assert json.loads(output["parameters"]["columns"]) == [*columns, "bias"]
        values = np.array(output["data"]).reshape(output["shape"])
        assert np.abs(values[:, :-1] - reference[:, 0]).max() <= FLOAT32_NOISE
        assert np.abs(values[:, -1] - bias[0]).max() <= FLOAT32_NOISE
    by_feature = app.client.post(
        url,
        json={
            "inputs": oip_inputs(manifest, rows),
            "parameters": {"explain": True, "explain_by": "feature"},
        },
    ).json()
    output = next(o for o in by_feature["outputs"] if o["name"] == "contributions")
    assert output["shape"] == [len(rows), len(manifest["explanations"]["features"]) + 1]
    refused = app.client.post(
        url,
        json={"inputs": oip_inputs(manifest, rows), "parameters": {"explain": "yes"}},
    )
    assert refused.status_code == 400
    assert "'explain'" in refused.json()["error"]


@pytest.mark.server
def test_oip_grpc_contributions_output(start_server: Any, exported: Any) -> None:
    import grpc
    from conftest import free_port
    from tritonclient.grpc import service_pb2 as pb
    from tritonclient.grpc import service_pb2_grpc as pb_grpc

    manifest = json.loads((exported.version_dir / "manifest.json").read_text())
    rows = json_rows(manifest, exported.test_frame, 4)
    reference, bias = reference_by_column(exported.pipeline, manifest, rows)
    port = free_port()
    start_server(exported.version_dir, {**UNGATED, "TABSHIP_GRPC_PORT": str(port)})
    request = pb.ModelInferRequest(model_name=manifest["name"])
    for tensor in oip_inputs(manifest, rows):
        item = request.inputs.add(
            name=tensor["name"], datatype=tensor["datatype"], shape=tensor["shape"]
        )
        if tensor["datatype"] == "FP64":
            item.contents.fp64_contents.extend(
                [float("nan") if v is None else v for v in tensor["data"]]
            )
        else:
            item.contents.bytes_contents.extend([v.encode() for v in tensor["data"]])
    request.parameters["explain"].bool_param = True
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        meta = stub.ModelMetadata(pb.ModelMetadataRequest(name=manifest["name"]))
        assert "contributions" in [o.name for o in meta.outputs]
        reply = stub.ModelInfer(request)
        names = [o.name for o in reply.outputs]
        assert names == ["probabilities", "label", "decision", "contributions"]
        output = reply.outputs[3]
        columns = json.loads(output.parameters["columns"].string_param)
        values = np.frombuffer(reply.raw_output_contents[3], dtype="<f8").reshape(
            list(output.shape)
        )
        assert values.shape == (len(rows), len(columns))
        assert np.abs(values[:, :-1] - reference[:, 0]).max() <= FLOAT32_NOISE
        assert np.abs(values[:, -1] - bias[0]).max() <= FLOAT32_NOISE
        request.parameters["explain"].string_param = "yes"
        with pytest.raises(grpc.RpcError) as refused:
            stub.ModelInfer(request)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "'explain'" in str(refused.value.details())


def test_the_explainer_is_verified_like_the_graph(exported: Any, tmp_path: Any) -> None:
    import shutil

    from tabship.contract.errors import ModelRefused
    from tabship.runtime.model.artifact import load_artifact
    from tabship.runtime.settings import Settings

    copy = tmp_path / "version"
    shutil.copytree(exported.version_dir, copy)
    settings = Settings.from_env(UNGATED, model_uri=str(copy))
    assert load_artifact(settings).explainer_bytes == (copy / "explainer.json").read_bytes()
    content = json.loads((copy / "explainer.json").read_text())
    content["covers"][1] *= 1.01
    (copy / "explainer.json").write_text(json.dumps(content))
    with pytest.raises(ModelRefused, match=r"explainer.json: SHA-256 .* does not match"):
        load_artifact(settings)
    (copy / "explainer.json").unlink()
    with pytest.raises(ModelRefused, match=r"explainer\.json does not exist"):
        load_artifact(settings)


def test_openapi_describes_explanations(
    binary: tuple[AppServer, dict[str, Any]], exported: Any
) -> None:
    import jsonschema

    app, manifest = binary
    document = app.client.get("/openapi.json").json()
    predict = document["paths"]["/v1/predict"]["post"]
    assert [p["name"] for p in predict["parameters"]] == ["explain", "explain_by"]
    schema = predict["responses"]["200"]["content"]["application/json"]["schema"]
    rows = json_rows(manifest, exported.test_frame, 3)
    for body, query in ((rows[0], "explain=2"), (rows, "explain=all")):
        answer = app.client.post(f"/v1/predict?{query}", json=body).json()
        jsonschema.validate(answer, schema)
    broken = app.client.post("/v1/predict?explain=all", json=rows[0]).json()
    broken["contributions"]["margin"] = "high"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
