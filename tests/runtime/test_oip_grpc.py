"""gRPC Open Inference Protocol against a real server process: the committed stubs match the
.proto, typed contents and raw contents score alike, and the shared data plane's rules hold
(errors, body limit, deadline as DEADLINE_EXCEEDED, overload as RESOURCE_EXHAUSTED, metrics,
batching shared with HTTP, graceful SIGTERM)."""

from __future__ import annotations

import filecmp
import json
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
from conftest import NAME, REPO, VERSION_A, Server, free_port, wait_until
from test_server import direct, metric
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc
from tritonclient.utils import InferenceServerException

pytestmark = [pytest.mark.server, pytest.mark.slow]

STUBS = REPO / "runtime" / "grpc" / "stubs"
ROWS = [
    {
        "PageValues": 10.0,
        "ExitRates": 0.05,
        "Administrative": 3.0,
        "Month": "nov",
        "VisitorType": "new_visitor",
        "OperatingSystems": "2",
    },
    {
        "PageValues": None,
        "ExitRates": 0.2,
        "Administrative": 0.0,
        "Month": None,
        "VisitorType": "Returning Visitor",
        "OperatingSystems": "8",
    },
]
NUMERIC = ("PageValues", "ExitRates", "Administrative")
CATEGORICAL = ("Month", "VisitorType", "OperatingSystems")


def test_committed_stubs_are_what_the_proto_generates(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    command = [
        sys.executable,
        *("-m", "grpc_tools.protoc", "-I."),
        *(f"--python_out={out}", f"--pyi_out={out}", f"--grpc_python_out={out}"),
        "tabship/runtime/grpc/stubs/grpc_predict_v2.proto",
    ]
    subprocess.run(command, check=True, cwd=REPO)
    for name in (
        "grpc_predict_v2_pb2.py",
        "grpc_predict_v2_pb2.pyi",
        "grpc_predict_v2_pb2_grpc.py",
    ):
        generated = out / "tabship" / "runtime" / "grpc" / "stubs" / name
        assert filecmp.cmp(generated, STUBS / name, shallow=False), f"{name}: regenerate (README)"


def start_grpc(
    start_server: Any, version: Path, env: dict[str, str] | None = None
) -> tuple[Server, int]:
    port = free_port()
    return start_server(version, {"TABSHIP_GRPC_PORT": str(port), **(env or {})}), port


def client_inputs(rows: list[dict[str, Any]]) -> list[Any]:
    inputs = []
    for name in NUMERIC:
        array = np.array([[np.nan if r[name] is None else r[name]] for r in rows], dtype=np.float64)
        item = triton_grpc.InferInput(name, list(array.shape), "FP64")
        item.set_data_from_numpy(array)
        inputs.append(item)
    for name in CATEGORICAL:
        array = np.array([["" if r[name] is None else r[name]] for r in rows], dtype=object)
        item = triton_grpc.InferInput(name, list(array.shape), "BYTES")
        item.set_data_from_numpy(array)
        inputs.append(item)
    return inputs


def contents_request(rows: list[dict[str, Any]]) -> pb.ModelInferRequest:
    """Typed contents (fp64_contents, bytes_contents ...) instead of raw_input_contents."""
    request = pb.ModelInferRequest(model_name=NAME, id="typed")
    for name in NUMERIC:
        tensor = request.inputs.add(name=name, datatype="FP64", shape=[len(rows), 1])
        tensor.contents.fp64_contents.extend(
            [float("nan") if r[name] is None else r[name] for r in rows]
        )
    for name in CATEGORICAL:
        tensor = request.inputs.add(name=name, datatype="BYTES", shape=[len(rows)])
        tensor.contents.bytes_contents.extend(
            [("" if r[name] is None else r[name]).encode() for r in rows]
        )
    return request


def test_grpc_health_metadata_and_both_content_forms(start_server: Any, version_a: Path) -> None:
    server, port = start_grpc(start_server, version_a)
    client = triton_grpc.InferenceServerClient(f"127.0.0.1:{port}")
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(NAME)
    assert client.is_model_ready(NAME, VERSION_A)
    assert client.get_server_metadata(as_json=True)["name"] == "tabship"
    meta = client.get_model_metadata(NAME, as_json=True)
    assert meta["name"] == NAME
    assert meta["versions"] == [VERSION_A]
    assert meta["platform"] == "onnx_onnxv1"
    assert meta["inputs"][0] == {"name": "PageValues", "datatype": "FP64", "shape": ["-1", "1"]}
    expected_p, expected_decision = direct(version_a, ROWS)

    raw = client.infer(NAME, client_inputs(ROWS), request_id="r-1")
    assert raw.get_response(as_json=True)["id"] == "r-1"
    assert raw.as_numpy("probabilities")[:, 1].tolist() == expected_p.tolist()
    assert raw.as_numpy("decision").tolist() == expected_decision.tolist()
    only = client.infer(
        NAME, client_inputs(ROWS), outputs=[triton_grpc.InferRequestedOutput("label")]
    )
    assert [o.name for o in only.get_response().outputs] == ["label"]

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        typed = stub.ModelInfer(contents_request(ROWS))
        assert typed.id == "typed"
        probabilities = np.frombuffer(typed.raw_output_contents[0], dtype="<f4").reshape(-1, 2)
        assert probabilities[:, 1].tolist() == expected_p.tolist()
        # FP32 contents widen exactly; INT32 contents are integers
        request = contents_request(ROWS)
        request.inputs[2].datatype = "INT32"
        request.inputs[2].contents.ClearField("fp64_contents")
        request.inputs[2].contents.int_contents.extend([3, 0])
        assert stub.ModelInfer(request).raw_output_contents[0] == typed.raw_output_contents[0]
    text = server.client.get("/metrics").text
    route = "/inference.GRPCInferenceService/ModelInfer"
    assert (
        metric(text, "tabship_http_requests_total", route=route, method="GRPC", status="200") == 4
    )
    assert metric(text, "tabship_rows_scored_total") == 8


def grpc_error(call: Any) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as caught:
        call()
    return caught.value


def rpc_error(call: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def test_grpc_errors(start_server: Any, version_a: Path) -> None:
    server, port = start_grpc(start_server, version_a, {"TABSHIP_MAX_BODY_BYTES": "4000"})
    client = triton_grpc.InferenceServerClient(f"127.0.0.1:{port}")
    missing = grpc_error(lambda: client.infer(NAME, client_inputs(ROWS)[:-1]))
    assert missing.status() == "StatusCode.INVALID_ARGUMENT"
    assert "missing inputs: OperatingSystems" in missing.message()
    unknown = grpc_error(lambda: client.infer("other", client_inputs(ROWS)))
    assert unknown.status() == "StatusCode.NOT_FOUND"
    assert (
        grpc_error(lambda: client.is_model_ready(NAME, "1999")).status() == "StatusCode.NOT_FOUND"
    )
    invalid = [dict(ROWS[0], Administrative=None), ROWS[1]]  # not nullable
    rows = grpc_error(lambda: client.infer(NAME, client_inputs(invalid)))
    assert rows.status() == "StatusCode.INVALID_ARGUMENT"
    assert "row 0, column 'Administrative'" in rows.message()
    big = grpc_error(lambda: client.infer(NAME, client_inputs(ROWS * 100)))
    assert big.status() == "StatusCode.RESOURCE_EXHAUSTED"  # grpc's own message size limit
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        hostile = contents_request(ROWS)
        for tensor in hostile.inputs:
            tensor.ClearField("contents")
        hostile.raw_input_contents.extend([b"\x00" * 16] * 3)
        hostile.raw_input_contents.extend([struct.pack("<I", 1000) + b"nov"] * 3)  # truncated
        error = rpc_error(lambda: stub.ModelInfer(hostile))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "input 'Month': BYTES element 0 declares 1000 bytes" in error.details()
        del hostile.raw_input_contents[-1]
        error = rpc_error(lambda: stub.ModelInfer(hostile))
        assert "raw_input_contents has 5 entries for 6 inputs" in error.details()
        both = contents_request(ROWS)
        both.raw_input_contents.extend([b""] * 6)
        error = rpc_error(lambda: stub.ModelInfer(both))
        assert "both contents and raw_input_contents" in error.details()
        not_utf8 = contents_request(ROWS)
        not_utf8.inputs[3].contents.bytes_contents[0] = b"\xff"
        error = rpc_error(lambda: stub.ModelInfer(not_utf8))
        assert "input 'Month': BYTES element 0 is not UTF-8" in error.details()
        fp16 = contents_request(ROWS)
        fp16.inputs[0].datatype = "FP16"
        error = rpc_error(lambda: stub.ModelInfer(fp16))
        assert "input 'PageValues': datatype must be one of FP64" in error.details()
    assert "Traceback" not in server.log
    text = server.client.get("/metrics").text
    route = "/inference.GRPCInferenceService/ModelInfer"
    assert (
        metric(text, "tabship_http_requests_total", route=route, method="GRPC", status="400") >= 3
    )


def test_grpc_deadline_and_overload(start_server: Any, version_a: Path) -> None:
    server, port = start_grpc(
        start_server,
        version_a,
        {
            "TABSHIP_TESTONLY_SCORE_DELAY_MS": "2500",
            "TABSHIP_MAX_INFLIGHT": "1",
            "TABSHIP_REQUEST_TIMEOUT_S": "30",
        },
    )
    client = triton_grpc.InferenceServerClient(f"127.0.0.1:{port}")
    # the client's own deadline, shorter than the server's; long enough that the call reaches
    # the handler on a loaded machine (a deadline gone before that is cancelled by gRPC itself,
    # and no handler can count it)
    late = grpc_error(lambda: client.infer(NAME, client_inputs(ROWS), client_timeout=1.0))
    assert late.status() == "StatusCode.DEADLINE_EXCEEDED"
    give_up = time.monotonic() + 30
    while metric(server.client.get("/metrics").text, "tabship_inflight_requests") > 0 or (
        metric(
            server.client.get("/metrics").text, "tabship_rejected_requests_total", reason="deadline"
        )
        < 1
    ):
        assert time.monotonic() < give_up, "the timed-out call was never counted as a deadline"
        time.sleep(0.02)  # the timed-out call has left the data plane
    outcome: dict[str, Any] = {}
    slow = threading.Thread(
        target=lambda: outcome.update(r=client.infer(NAME, client_inputs(ROWS)))
    )
    slow.start()
    wait_until(
        lambda: metric(server.client.get("/metrics").text, "tabship_inflight_requests") >= 1,
        "the slow call in flight",
    )
    busy = grpc_error(lambda: client.infer(NAME, client_inputs(ROWS)))
    assert busy.status() == "StatusCode.RESOURCE_EXHAUSTED"
    slow.join(timeout=60)
    assert not slow.is_alive()
    assert outcome["r"].as_numpy("decision").shape == (2,)
    text = server.client.get("/metrics").text
    assert metric(text, "tabship_rejected_requests_total", reason="overloaded") == 1
    assert metric(text, "tabship_rejected_requests_total", reason="deadline") == 1


def test_grpc_server_deadline(start_server: Any, version_a: Path) -> None:
    _, port = start_grpc(
        start_server,
        version_a,
        {"TABSHIP_TESTONLY_SCORE_DELAY_MS": "3000", "TABSHIP_REQUEST_TIMEOUT_S": "0.2"},
    )
    client = triton_grpc.InferenceServerClient(f"127.0.0.1:{port}")
    error = grpc_error(lambda: client.infer(NAME, client_inputs(ROWS), client_timeout=60))
    assert error.status() == "StatusCode.DEADLINE_EXCEEDED"
    assert "not answered within 0.2 s" in error.message()


def test_grpc_and_http_share_batches(start_server: Any, version_a: Path, tmp_path: Path) -> None:
    """Driven by the test, not by timing: every inference call waits for the gate file, so
    the first call (one HTTP row) is still running while four gRPC requests queue behind it;
    an admitted small request reaches the batcher's queue without yielding the event loop,
    so once /metrics counts five in flight all four are queued, and they go in one call."""
    gate = tmp_path / "release"
    server, port = start_grpc(start_server, version_a, {"TABSHIP_TESTONLY_SCORE_GATE": str(gate)})
    manifest = json.loads((version_a / "manifest.json").read_text())
    assert manifest["name"] == NAME

    def inflight() -> float:
        return metric(server.client.get("/metrics").text, "tabship_inflight_requests")

    results: list[Any] = []
    first = threading.Thread(
        target=lambda: results.append(
            server.client.post("/v1/predict", json=ROWS[0], timeout=60).status_code
        )
    )
    first.start()
    wait_until(lambda: inflight() >= 1, "the HTTP request in flight")
    client = triton_grpc.InferenceServerClient(f"127.0.0.1:{port}")
    callers = [
        threading.Thread(target=lambda: results.append(client.infer(NAME, client_inputs(ROWS))))
        for _ in range(4)
    ]
    for caller in callers:
        caller.start()
    wait_until(lambda: inflight() >= 5, "four gRPC requests queued behind the first call")
    gate.touch()
    for thread in [first, *callers]:
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert len(results) == 5
    text = server.client.get("/metrics").text
    assert metric(text, "tabship_rows_scored_total") == 9
    assert metric(text, "tabship_inference_calls_total") == 2  # warm-up excluded


def test_grpc_graceful_sigterm_and_a_busy_port(start_server: Any, version_a: Path) -> None:
    server, port = start_grpc(start_server, version_a)
    client = triton_grpc.InferenceServerClient(f"127.0.0.1:{port}")
    assert client.is_server_ready()
    busy = start_server(version_a, {"TABSHIP_GRPC_PORT": str(port)}, ready=False)
    assert busy.wait_exit() == 1
    assert "cannot serve gRPC" in busy.log
    server.process.send_signal(15)
    assert server.wait_exit() == 0


def test_malformed_messages_and_deadline_races_leave_no_traceback(
    start_server: Any, version_a: Path
) -> None:
    server, port = start_grpc(start_server, version_a, {"TABSHIP_TESTONLY_SCORE_DELAY_MS": "300"})
    method = "/inference.GRPCInferenceService/ModelInfer"
    not_utf8 = b"\x0a\x01\xff"  # field 1 (model_name), one byte that is not UTF-8
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        raw = channel.unary_unary(method)  # bytes in, bytes out: no client-side parsing
        for payload in (b"\xff\xff\xff\xff", not_utf8, b"\x0a\x05ab"):
            error = rpc_error(lambda payload=payload: raw(payload, timeout=30))
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
            assert "malformed ModelInferRequest" in error.details()
            assert "Error" not in error.details()  # no exception class
        # the client's deadline races the server's own (set from it): whichever wins, the
        # call ends as DEADLINE_EXCEEDED and the server logs nothing
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        for timeout in (0.05, 0.1, 0.2, 0.29, 0.3, 0.31, 0.35):
            late = rpc_error(
                lambda timeout=timeout: stub.ModelInfer(contents_request(ROWS), timeout=timeout)
            )
            assert late.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert stub.ModelInfer(contents_request(ROWS), timeout=30).id == "typed"
    assert server.client.get("/healthz").status_code == 200
    assert "Traceback" not in server.log
    assert "DecodeError" not in server.log
