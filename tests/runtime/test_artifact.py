"""Loading refuses every model that must not be served, with one clear reason."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from conftest import NAME, VERSION_A
from fixture_model import rewrite_manifest, write_version
from onnx import external_data_helper, helper, numpy_helper

from tabship.runtime.dataplane.errors import ModelRefused
from tabship.runtime.model.artifact import load_artifact
from tabship.runtime.model.onnx_wire import WireError, read_facts
from tabship.runtime.model.session import Model
from tabship.runtime.settings import Settings, SettingsError


def copy_version(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy" / source.name
    shutil.copytree(source, target)
    return target


def refused(uri: str | Path, **settings: Any) -> str:
    with pytest.raises(ModelRefused) as caught:
        Model.load(Settings(model_uri=str(uri), **settings))
    return str(caught.value)


def test_a_good_version_loads_from_path_file_uri_and_pin(version_a: Path) -> None:
    model = Model.load(Settings(model_uri=str(version_a)))
    assert (model.name, model.version) == (NAME, VERSION_A)
    assert model.artifact.sha256_checked_against == ("manifest",)
    assert Model.load(Settings(model_uri=version_a.as_uri())).version == VERSION_A
    sha = hashlib.sha256((version_a / "model.onnx").read_bytes()).hexdigest()
    pinned = Model.load(Settings(model_uri=str(version_a), model_sha256=sha))
    assert pinned.artifact.sha256_checked_against == ("manifest", "MODEL_SHA256")
    beside = Model.load(Settings(model_uri=str(version_a / "model.onnx")))
    assert beside.artifact.manifest_source.endswith("manifest.json")


def test_score_is_onnxruntimes_public_run_bit_for_bit(version_a: Path) -> None:
    """Model.score calls the session's C++ run directly: the same outputs as Session.run."""
    from tabship.runtime.model.schema import InputSchema
    from tabship.runtime.model.session import OUTPUT_NAMES

    model = Model.load(Settings(model_uri=str(version_a)))
    assert model._raw_run is not None  # this onnxruntime has it: the direct call is what runs
    schema = InputSchema(model.inputs)
    rows = [
        {"PageValues": 10, "ExitRates": 0.05, "Administrative": 3, "Month": "nov"},
        {"PageValues": None, "ExitRates": "1e-3", "Administrative": 0, "Month": " FEB "},
    ]
    rows = [r | {"VisitorType": "new_visitor", "OperatingSystems": "2"} for r in rows]
    feeds, _ = schema.rows_to_feeds(rows)
    public = model._session.run(list(OUTPUT_NAMES), feeds)
    for ours, theirs in zip(model.score(feeds), public, strict=True):
        assert ours.dtype == theirs.dtype
        assert ours.shape == theirs.shape
        assert ours.tobytes() == theirs.tobytes()


def test_tampered_file_is_refused(version_a: Path, tmp_path: Path) -> None:
    folder = copy_version(version_a, tmp_path)
    data = bytearray((folder / "model.onnx").read_bytes())
    data[-5] ^= 0x01
    (folder / "model.onnx").write_bytes(bytes(data))
    assert "does not match the manifest" in refused(folder)


def test_pin_mismatch_is_refused(version_a: Path) -> None:
    assert "is not the MODEL_SHA256 pin" in refused(version_a, model_sha256="0" * 64)


def test_lone_onnx_needs_a_pin_and_the_gate_override(version_a: Path, tmp_path: Path) -> None:
    lone = tmp_path / "lone.onnx"
    shutil.copyfile(version_a / "model.onnx", lone)
    assert "nothing to verify its SHA-256 against" in refused(lone)
    sha = hashlib.sha256(lone.read_bytes()).hexdigest()
    assert "parity.status is 'pending'" in refused(lone, model_sha256=sha)
    model = Model.load(Settings(model_uri=str(lone), model_sha256=sha, allow_ungated=True))
    assert model.artifact.manifest_source == "metadata_props"
    assert model.version == VERSION_A


def test_ungated_version_is_refused_unless_overridden(registry: Path) -> None:
    for status in ("pending", "failed"):
        folder = write_version(registry / status, NAME, VERSION_A, parity=status)
        assert f"parity.status is {status!r}" in refused(folder)
        assert "TABSHIP_ALLOW_UNGATED=1" in refused(folder)
        assert Model.load(Settings(model_uri=str(folder), allow_ungated=True)).version == VERSION_A


def test_missing_and_corrupt_models_are_refused(version_a: Path, tmp_path: Path) -> None:
    assert "no such file or directory" in refused(tmp_path / "nowhere")
    assert "needs manifest.json" in refused(tmp_path)
    folder = copy_version(version_a, tmp_path)
    garbage = b"\x08\x0a\x12\xff" * 100
    (folder / "model.onnx").write_bytes(garbage)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["onnx"].update(sha256=hashlib.sha256(garbage).hexdigest(), bytes=len(garbage))
    rewrite_manifest(folder, onnx=manifest["onnx"])
    assert "not a valid ONNX file" in refused(folder)
    (folder / "manifest.json").write_text("{not json")
    assert "manifest is not JSON" in refused(folder)
    assert "unsupported URI scheme" in refused("ftp://bucket/model")  # s3:// is served (s3 extra)
    assert "no model" in refused("")


def test_external_data_is_refused(version_a: Path, tmp_path: Path) -> None:
    model = onnx.load(str(version_a / "model.onnx"))
    model.graph.initializer.append(numpy_helper.from_array(np.zeros(4096), "big"))
    external_data_helper.convert_model_to_external_data(
        model, location="weights.bin", size_threshold=1024
    )
    folder = tmp_path / "ext"
    folder.mkdir()
    onnx.save(model, str(folder / "model.onnx"))
    data = (folder / "model.onnx").read_bytes()
    assert "external data" in refused(
        folder / "model.onnx", model_sha256=hashlib.sha256(data).hexdigest(), allow_ungated=True
    )


def _attribute_hiding_a_graph_and_a_tensor() -> onnx.AttributeProto:
    """An attribute whose graph and external tensor come after long unpacked arrays (the
    layout of a tree ensemble's attributes), with varints of every length and strings of
    lengths on both sides of what the fast skip covers."""
    hidden = helper.make_graph(
        [helper.make_node("Custom", [], ["y"], domain="com.hidden")], "sub", [], []
    )
    attribute = helper.make_attribute("arrays", [0, 1, 127, 128, 2**40, -1, *range(0, 9000, 3)])
    attribute.floats.extend(np.linspace(-1, 1, 2000).tolist())
    attribute.strings.extend([b"BRANCH_LEQ", b"LEAF", b"", b"x" * 63, b"y" * 64, b"z" * 300] * 50)
    attribute.graphs.append(hidden)
    outside = numpy_helper.from_array(np.zeros(3), "outside")
    outside.data_location = onnx.TensorProto.EXTERNAL
    attribute.tensors.append(outside)
    return attribute


def test_wire_reader_finds_graphs_and_tensors_behind_attribute_arrays() -> None:
    node = helper.make_node("Identity", ["x"], ["z"])
    node.attribute.append(_attribute_hiding_a_graph_and_a_tensor())
    value = helper.make_tensor_value_info("x", onnx.TensorProto.DOUBLE, [None, 1])
    graph = helper.make_graph([node], "g", [value], [value])
    facts = read_facts(helper.make_model(graph).SerializeToString())
    assert facts.node_domains == {"", "com.hidden"}
    assert facts.external_data == ["outside"]


def test_wire_reader_refuses_what_is_not_a_well_formed_model() -> None:
    node = helper.make_node("Identity", ["x"], ["z"])
    value = helper.make_tensor_value_info("x", onnx.TensorProto.DOUBLE, [None, 1])
    model = helper.make_model(helper.make_graph([node], "g", [value], [value]))
    helper.set_model_props(model, {"tabship.manifest": "VALUE"})
    data = model.SerializeToString()
    assert read_facts(data).metadata == {"tabship.manifest": "VALUE"}
    broken = {
        "truncated": data[:-3],
        "garbage": b"\x07junk",
        "not UTF-8": data.replace(b"VALUE", b"VAL\xffE"),
        "no graph": helper.make_model(helper.make_graph([], "g", [], [])).SerializeToString()[:2],
    }
    for bad in broken.values():
        with pytest.raises(WireError):
            read_facts(bad)


def test_vendored_onnx_classes_are_what_locks_onnx_proto_generates(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[2] / "locks" / "onnx_proto.sh"
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run([str(script), str(tmp_path)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    committed = script.parents[1] / "runtime" / "model" / "onnx_proto"
    for name in ("onnx_ml.proto", "onnx_ml_pb2.py", "onnx_ml_pb2.pyi"):
        generated = (tmp_path / "runtime" / "model" / "onnx_proto" / name).read_bytes()
        assert generated == (committed / name).read_bytes(), f"{name}: run locks/onnx_proto.sh"
    node_proto = script.parents[1] / "clients" / "node" / "src" / "onnx_ml.proto"
    generated = (tmp_path / "clients" / "node" / "src" / "onnx_ml.proto").read_bytes()
    assert generated == node_proto.read_bytes(), (
        "the Node consumer's proto: run locks/onnx_proto.sh"
    )


def test_unknown_domain_and_graph_mismatch_are_refused(tmp_path: Path) -> None:
    custom = write_version(tmp_path, NAME, VERSION_A, domain_node="com.example")
    assert "operator domains ['com.example'] are refused" in refused(custom)
    extra = write_version(tmp_path / "x", NAME, VERSION_A, extra_input=True)
    assert "graph inputs differ from the manifest" in refused(extra)


def test_manifest_disagreements_are_refused(version_a: Path, tmp_path: Path) -> None:
    folder = copy_version(version_a, tmp_path)
    original = json.loads((folder / "manifest.json").read_text())
    rewrite_manifest(folder, threshold={**original["threshold"], "value": 0.9})
    assert "disagree on ['threshold']" in refused(folder)
    rewrite_manifest(
        folder,
        threshold=original["threshold"],
        onnx={**original["onnx"], "min_onnxruntime": "99.0"},
    )
    assert "needs onnxruntime >= 99.0" in refused(folder)
    rewrite_manifest(folder, inputs=[{"name": "x", "kind": "text"}])
    assert "not a tabship manifest" in refused(folder)


def test_decision_not_following_the_threshold_is_refused(tmp_path: Path) -> None:
    # graph built with threshold 0.9, both manifests claim 0.35: warm-up catches the mismatch
    folder = write_version(tmp_path, NAME, VERSION_A, threshold=0.9)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["threshold"]["value"] = 0.35
    onnx_model = onnx.load(str(folder / "model.onnx"))
    embedded = json.loads(onnx_model.metadata_props[0].value)
    embedded["threshold"]["value"] = 0.35
    onnx_model.metadata_props[0].value = json.dumps(embedded)
    data = onnx_model.SerializeToString()
    (folder / "model.onnx").write_bytes(data)
    manifest["onnx"].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert "does not follow manifest threshold 0.35" in refused(folder)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_root(registry: Path, version_a: Path) -> Iterator[str]:
    def handler(*args: Any, **kwargs: Any) -> _Quiet:
        return _Quiet(*args, directory=str(registry), **kwargs)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_http_uris(http_root: str, version_a: Path) -> None:
    directory = f"{http_root}/{NAME}/{VERSION_A}/"
    assert Model.load(Settings(model_uri=directory)).version == VERSION_A
    sha = hashlib.sha256((version_a / "model.onnx").read_bytes()).hexdigest()
    single = Settings(
        model_uri=f"{directory}model.onnx?X-Signature=secret",
        manifest_uri=f"{directory}manifest.json",
    )
    artifact = load_artifact(single)
    assert artifact.sha256 == sha
    assert "secret" not in artifact.model_location
    assert "over the cap" in refused(directory, fetch_max_bytes=100)
    message = refused(f"{http_root}/{NAME}/missing/")
    assert "HTTP 404" in message
    closed = refused("http://127.0.0.1:9/model.onnx", fetch_connect_timeout_s=1.0, model_sha256=sha)
    assert "download failed" in closed


def test_settings_from_environment() -> None:
    settings = Settings.from_env(
        {
            "MODEL_URI": "/m",
            "TABSHIP_MAX_ROWS": "5",
            "TABSHIP_BATCHING": "0",
            "TABSHIP_EXTRA_COLUMNS": "reject",
            "MODEL_SHA256": "AB" * 32,
        }
    )
    assert (settings.model_uri, settings.max_rows, settings.batching) == ("/m", 5, False)
    assert settings.model_sha256 == "ab" * 32
    assert settings.extra_columns == "reject"
    for bad in (
        {"TABSHIP_MAX_ROWS": "0"},
        {"TABSHIP_BATCHING": "maybe"},
        {"MODEL_SHA256": "xyz"},
        {"TABSHIP_EXTRA_COLUMNS": "drop"},
        {"TABSHIP_REQUEST_TIMEOUT_S": "inf"},
    ):
        with pytest.raises(SettingsError, match=next(iter(bad))):
            Settings.from_env(bad)


@pytest.mark.server
@pytest.mark.slow
def test_serve_exits_non_zero_with_one_clear_line(
    start_server: Any, version_a: Path, tmp_path: Path
) -> None:
    folder = copy_version(version_a, tmp_path)
    data = bytearray((folder / "model.onnx").read_bytes())
    data[-5] ^= 0x01
    (folder / "model.onnx").write_bytes(bytes(data))
    for model, env, expected in (
        (folder, {}, "does not match the manifest"),
        (tmp_path / "missing", {}, "no such file or directory"),
        (version_a, {"TABSHIP_MAX_ROWS": "lots"}, "TABSHIP_MAX_ROWS='lots'"),
    ):
        server = start_server(model, env, ready=False)
        assert server.wait_exit() != 0
        errors = [line for line in server.log.splitlines() if "ERROR" in line]
        assert len(errors) == 1, server.log
        assert expected in errors[0], server.log
        assert "Traceback" not in server.log
