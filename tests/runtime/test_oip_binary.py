"""The binary tensor data extension with hand-built bodies, against the app in this process:
the same scores as JSON, binary outputs, and every malformed body a 400 (never a 500); the body
limit (a chunked upload among them) on a real server process."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from conftest import NAME, AppServer, Server
from test_server import ROWS, direct

INFER = f"/v2/models/{NAME}/infer"
HEADER = "Inference-Header-Content-Length"
ROWS_CLEAN = [{k: v for k, v in row.items() if k != "CustomerId"} for row in ROWS]
NUMERIC = ("PageValues", "ExitRates", "Administrative")
CATEGORICAL = ("Month", "VisitorType", "OperatingSystems")


def element(text: bytes) -> bytes:
    return struct.pack("<I", len(text)) + text


def columns(rows: list[dict[str, Any]]) -> dict[str, tuple[str, bytes]]:
    """Each input's datatype and raw bytes, the way tritonclient serialises numpy arrays."""
    out: dict[str, tuple[str, bytes]] = {}
    for name in NUMERIC:
        values = [float(r[name]) if r[name] not in (None, "") else np.nan for r in rows]
        out[name] = ("FP64", np.asarray(values, dtype="<f8").tobytes())
    for name in CATEGORICAL:
        texts = [r[name] for r in rows]
        out[name] = (
            "BYTES",
            b"".join(
                element(
                    ("" if t is None else str(t if not isinstance(t, float) else int(t))).encode()
                )
                for t in texts
            ),
        )
    return out


SIMPLE = [
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


def binary_body(
    rows: list[dict[str, Any]],
    *,
    header_extra: dict[str, Any] | None = None,
    tamper: Any = None,
) -> tuple[bytes, dict[str, str]]:
    inputs, raws = [], []
    for name, (datatype, raw) in columns(rows).items():
        inputs.append(
            {
                "name": name,
                "datatype": datatype,
                "shape": [len(rows), 1],
                "parameters": {"binary_data_size": len(raw)},
            }
        )
        raws.append(raw)
    header_obj: dict[str, Any] = {"id": "b-1", "inputs": inputs, **(header_extra or {})}
    if tamper is not None:
        tamper(header_obj, raws)
    header = json.dumps(header_obj).encode()
    return header + b"".join(raws), {HEADER: str(len(header))}


def post(server: Server | AppServer, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return server.client.post(INFER, content=body, headers=headers)


def split(response: httpx.Response) -> tuple[dict[str, Any], bytes]:
    length = int(response.headers[HEADER])
    return json.loads(response.content[:length]), response.content[length:]


def test_binary_inputs_score_like_json(app_server: AppServer, version_a: Path) -> None:
    expected_p, expected_decision = direct(version_a, SIMPLE)
    body, headers = binary_body(SIMPLE)
    response = post(app_server, body, headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"  # outputs asked as JSON
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    assert outputs["probabilities"]["data"][1::2] == [float(p) for p in expected_p]
    assert outputs["decision"]["data"] == expected_decision.tolist()
    assert response.json()["id"] == "b-1"


def test_binary_outputs(app_server: AppServer, version_a: Path) -> None:
    expected_p, expected_decision = direct(version_a, SIMPLE)
    body, headers = binary_body(SIMPLE, header_extra={"parameters": {"binary_data_output": True}})
    response = post(app_server, body, headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    header, raw = split(response)
    sizes = [o["parameters"]["binary_data_size"] for o in header["outputs"]]
    assert [o["name"] for o in header["outputs"]] == ["probabilities", "label", "decision"]
    assert sizes == [2 * 2 * 4, 2 * 8, 2 * 8]
    assert len(raw) == sum(sizes)
    probabilities = np.frombuffer(raw[:16], dtype="<f4").reshape(2, 2)
    assert probabilities[:, 1].tolist() == expected_p.tolist()
    assert np.frombuffer(raw[32:], dtype="<i8").tolist() == expected_decision.tolist()
    # per output: binary_data false wins over binary_data_output, true without it
    mixed, headers = binary_body(
        SIMPLE,
        header_extra={
            "parameters": {"binary_data_output": True},
            "outputs": [{"name": "decision", "parameters": {"binary_data": False}}],
        },
    )
    plain = post(app_server, mixed, headers)
    assert HEADER.lower() not in plain.headers
    assert plain.json()["outputs"][0]["data"] == expected_decision.tolist()
    json_request = {
        "inputs": [
            {"name": n, "datatype": "FP64", "shape": [2], "data": [SIMPLE[0][n], SIMPLE[1][n]]}
            for n in NUMERIC
        ]
        + [
            {"name": n, "datatype": "BYTES", "shape": [2], "data": [SIMPLE[0][n], SIMPLE[1][n]]}
            for n in CATEGORICAL
        ],
        "outputs": [{"name": "label", "parameters": {"binary_data": True}}],
    }
    only = app_server.client.post(INFER, content=json.dumps(json_request).encode())
    header, raw = split(only)
    assert header["outputs"] == [
        {"name": "label", "datatype": "INT64", "shape": [2], "parameters": {"binary_data_size": 16}}
    ]
    assert len(raw) == 16


def test_mixed_json_and_binary_inputs_and_other_datatypes(
    app_server: AppServer, version_a: Path
) -> None:
    expected_p, _ = direct(version_a, SIMPLE)

    def tamper(header: dict[str, Any], raws: list[bytes]) -> None:
        # PageValues as JSON data, ExitRates as raw FP32 (0.05 and 0.2 are not float32: use
        # exact ones), Administrative as raw INT32
        header["inputs"][0] = {
            "name": "PageValues",
            "datatype": "FP64",
            "shape": [2],
            "data": [10.0, None],
        }
        raws[0] = b""
        header["inputs"][2] = {
            "name": "Administrative",
            "datatype": "INT32",
            "shape": [2],
            "parameters": {"binary_data_size": 8},
        }
        raws[2] = struct.pack("<ii", 3, 0)

    body, headers = binary_body(SIMPLE, tamper=tamper)
    response = post(app_server, body, headers)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"][1::2] == [float(p) for p in expected_p]


def set_size(index: int, size: Any) -> Any:
    return lambda h, r: h["inputs"][index]["parameters"].update(binary_data_size=size)


HOSTILE: list[tuple[str, Any, str]] = [
    ("sizes below the body", lambda h, r: r.append(b"\x00" * 3), "add up to"),
    ("sizes beyond the body", set_size(0, 17), "beyond the"),
    ("negative size", set_size(1, -16), "binary_data_size must be a byte count"),
    ("huge size", set_size(1, 2**62), "binary_data_size 4611686018427387904 is beyond"),
    ("size as text", set_size(1, "16"), "binary_data_size must be a byte count"),
    ("size as float", set_size(1, 16.0), "binary_data_size must be a byte count"),
    ("size as bool", set_size(1, True), "binary_data_size must be a byte count"),
    (
        "size and data",
        lambda h, r: h["inputs"][0].update(data=[1.0, 2.0]),
        "both 'data' and binary_data_size",
    ),
    (
        "size not the shape's",
        lambda h, r: (set_size(0, 8)(h, r), r.__setitem__(0, r[0][:8])),
        "8 bytes of FP64 data, shape needs 2 x 8 = 16",
    ),
    (
        "truncated BYTES element",
        lambda h, r: (r.__setitem__(3, r[3][:-2]), set_size(3, len(r[3]))(h, r)),
        "(truncated)",
    ),
    (
        "BYTES length beyond the tensor",
        lambda h, r: (
            r.__setitem__(3, element(b"nov") + struct.pack("<I", 10**6)),
            set_size(3, len(r[3]))(h, r),
        ),
        "(truncated)",
    ),
    (
        "BYTES elements beyond the shape",
        lambda h, r: (r.__setitem__(4, r[4] + element(b"x")), set_size(4, len(r[4]))(h, r)),
        "bytes left after the 2 BYTES elements",
    ),
    (
        "non-UTF-8 text",
        lambda h, r: (
            r.__setitem__(3, element(b"\xc3\x28") + element(b"nov")),
            set_size(3, len(r[3]))(h, r),
        ),
        "input 'Month': BYTES element 0 is not UTF-8",
    ),
    (
        "BOOL byte 2",
        lambda h, r: (
            h["inputs"][0].update(datatype="BOOL", parameters={"binary_data_size": 2}),
            r.__setitem__(0, b"\x01\x02"),
        ),
        "BOOL bytes must be 0 or 1",
    ),
    (
        "INT64 beyond 2**53",
        lambda h, r: (
            h["inputs"][0].update(datatype="INT64"),
            r.__setitem__(0, struct.pack("<qq", 1, 2**60)),
        ),
        "element 1 is beyond 2**53",
    ),
    (
        "infinity",
        lambda h, r: r.__setitem__(0, struct.pack("<dd", 1.0, float("inf"))),
        "row 1, column 'PageValues': not a finite number",
    ),
    (
        "huge shape",
        lambda h, r: h["inputs"][0].update(shape=[2**62, 1]),
        "over the limit",
    ),
    (
        "negative shape",
        lambda h, r: h["inputs"][0].update(shape=[-2, 1]),
        "shape must be [N] or [N, 1]",
    ),
]


@pytest.mark.parametrize(
    ("tamper", "fragment"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE]
)
def test_hostile_binary_bodies_are_400(app_server: AppServer, tamper: Any, fragment: str) -> None:
    body, headers = binary_body(SIMPLE, tamper=tamper)
    response = post(app_server, body, headers)
    assert response.status_code in (400, 413), response.text
    assert (response.status_code == 413) == (fragment == "over the limit")
    assert set(response.json()) == {"error"}
    assert fragment in response.json()["error"]
    assert "Traceback" not in app_server.log


@pytest.mark.parametrize(
    ("header_value", "fragment"),
    [
        ("-5", "must be a byte count"),
        ("abc", "must be a byte count"),
        ("1e3", "must be a byte count"),
        ("99999999999999999999", "must be a byte count"),
        ("", "must be a byte count"),
        ("٣", "must be a byte count"),  # a non-ASCII digit
        ("100000", "is beyond the body"),
        ("10", "malformed JSON in the inference header"),
    ],
)
def test_hostile_header_lengths_are_400(
    app_server: AppServer, header_value: str, fragment: str
) -> None:
    body, _ = binary_body(SIMPLE)
    response = app_server.client.post(
        INFER, content=body, headers={HEADER: header_value.encode("utf-8")}
    )
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]


def test_other_malformed_bodies(app_server: AppServer) -> None:
    body, headers = binary_body(SIMPLE)
    not_utf8 = b"\xff" + body
    bad = post(app_server, not_utf8, {HEADER: str(int(headers[HEADER]) + 1)})
    assert bad.status_code == 400
    assert "inference header is not UTF-8" in bad.json()["error"]
    no_header = post(app_server, body, {"content-type": "application/octet-stream"})
    assert no_header.status_code == 400
    assert "needs the Inference-Header-Content-Length header" in no_header.json()["error"]
    wrong_type = post(app_server, body, {**headers, "content-type": "text/csv"})
    assert wrong_type.status_code == 415
    octet = post(app_server, body, {**headers, "content-type": "application/octet-stream"})
    assert octet.status_code == 200, octet.text
    header_only = json.loads(body[: int(headers[HEADER])])
    size_without_header = app_server.client.post(INFER, content=json.dumps(header_only).encode())
    assert size_without_header.status_code == 400
    assert (
        "binary_data_size without the Inference-Header-Content-Length header"
        in (size_without_header.json()["error"])
    )


@pytest.mark.server
def test_body_limit_applies_to_the_whole_binary_body(start_server: Any, version_a: Path) -> None:
    server = start_server(version_a, {"TABSHIP_MAX_BODY_BYTES": "2000"})
    body, headers = binary_body(SIMPLE)
    assert post(server, body, headers).status_code == 200
    # within the limit by header, over it with the tensors after it
    big = body + b"\x00" * 3000
    response = post(server, big, headers)
    assert response.status_code == 413
    assert set(response.json()) == {"error"}
    # sent in chunks without Content-Length: refused while streaming
    chunked = server.client.post(
        INFER, content=iter([body, b"\x00" * 1500, b"\x00" * 1500]), headers=headers
    )
    assert chunked.status_code == 413
    assert "Traceback" not in server.log
