"""Open Inference Protocol JSON requests as KServe/Triton clients send them, against a real
server process: no Content-Type, every numeric datatype, NaN for missing, exact errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import NAME, Server
from test_server import ROWS, direct, oip_request

pytestmark = [pytest.mark.server, pytest.mark.slow]

INFER = f"/v2/models/{NAME}/infer"
ROWS_CLEAN = [{k: v for k, v in row.items() if k != "CustomerId"} for row in ROWS]


def manifest_inputs(version_dir: Path) -> list[dict[str, Any]]:
    return json.loads((version_dir / "manifest.json").read_text())["inputs"]  # type: ignore[no-any-return]


def send(server: Server, body: Any, headers: dict[str, str] | None = None) -> Any:
    text = body if isinstance(body, str) else json.dumps(body)
    return server.client.post(INFER, content=text.encode(), headers=headers or {})


def probabilities(response: Any) -> list[float]:
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    return outputs["probabilities"]["data"][1::2]  # type: ignore[no-any-return]


def test_no_content_type_is_read_as_json(server: Server, version_a: Path) -> None:
    request = oip_request(ROWS_CLEAN, manifest_inputs(version_a))
    expected, _ = direct(version_a, ROWS_CLEAN)
    response = send(server, request)  # httpx sends no Content-Type for raw bytes
    assert "content-type" not in response.request.headers
    assert response.status_code == 200, response.text
    assert probabilities(response) == [float(p) for p in expected]
    declared = send(server, request, {"content-type": "application/json; charset=utf-8"})
    assert probabilities(declared) == probabilities(response)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_other_declared_types_stay_415(server: Server, version_a: Path, content_type: str) -> None:
    request = oip_request(ROWS_CLEAN, manifest_inputs(version_a))
    response = send(server, request, {"content-type": content_type})
    assert response.status_code == 415
    assert set(response.json()) == {"error"}
    assert content_type in response.json()["error"]
