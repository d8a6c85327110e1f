"""The adapters' one path (DataPlane.exchange): an OIP infer checks its model once, and the
data plane keeps no pass-throughs to Service."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import NAME, AppServer
from test_oip_json import ROWS_CLEAN, manifest_inputs
from test_server import ROWS, oip_request

from tabship.runtime.dataplane.oip_infer import Inference
from tabship.runtime.dataplane.plane import DataPlane


def test_an_oip_infer_checks_its_model_once(
    app_server: AppServer, version_a: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[tuple[str, str | None]] = []
    original = Inference.check_model

    def counting(self: Inference, name: str, version: str | None) -> None:
        checked.append((name, version))
        original(self, name, version)

    monkeypatch.setattr(Inference, "check_model", counting)
    request = oip_request(ROWS_CLEAN, manifest_inputs(version_a))
    answer = app_server.client.post(f"/v2/models/{NAME}/infer", json=request)
    assert answer.status_code == 200, answer.text
    assert checked == [(NAME, None)]
    unknown = app_server.client.post("/v2/models/other/infer", json=request)
    assert unknown.status_code == 404
    assert checked[1:] == [("other", None)]


def test_predict_and_infer_run_through_exchange(
    app_server: AppServer, version_a: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    original = DataPlane.exchange

    async def counting(self: DataPlane, *args: object, **kwargs: object) -> object:
        calls.append("exchange")
        return await original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(DataPlane, "exchange", counting)
    assert app_server.client.post("/v1/predict", json=ROWS[0]).status_code == 200
    request = oip_request(ROWS_CLEAN, manifest_inputs(version_a))
    assert app_server.client.post(f"/v2/models/{NAME}/infer", json=request).status_code == 200
    assert calls == ["exchange", "exchange"]


def test_the_data_plane_has_no_pass_throughs_to_service() -> None:
    for name in ("admitted", "receive_body", "decode_json", "offloaded", "encode_json"):
        assert not hasattr(DataPlane, name), name
