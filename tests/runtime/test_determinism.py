"""Determinism by construction: scoring runs on one intra-op thread, so a row's probability is
the same bits alone, inside any batch and micro-batched with other requests (with more threads
onnxruntime sums the trees in a batch-size-dependent order: 124 of 160 concurrent requests
moved in their last bits, issue 25). Other thread counts are refused, not silently used."""

from __future__ import annotations

import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import Server
from test_server import ROWS

from tabship.cli.main import main
from tabship.runtime.model.artifact import load_artifact
from tabship.runtime.model.session import Model
from tabship.runtime.settings import Settings, SettingsError

pytestmark = [pytest.mark.server, pytest.mark.slow]


def bits(value: float) -> bytes:
    return struct.pack("<d", value)


def varied_rows(count: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(count):
        row = dict(ROWS[i % len(ROWS)])
        for name in ("PageValues", "ExitRates"):
            if isinstance(row.get(name), float | int):
                row[name] = float(row[name]) * (1 + i / 97)
        rows.append(row)
    return rows


def test_a_rows_bits_do_not_depend_on_its_batch(start_server: Any, version_a: Path) -> None:
    server: Server = start_server(version_a, {"TABSHIP_BATCH_WAIT_MS": "5"})
    rows = varied_rows(60)
    alone = []
    for row in rows:
        response = server.client.post("/v1/predict", json=row)
        assert response.status_code == 200, response.text
        alone.append(bits(response.json()["probability"]))
    # the same rows in requests of every size from 1 to 12 ...
    start, size = 0, 1
    while start < len(rows):
        chunk = rows[start : start + size]
        answer = server.client.post("/v1/predict", json=chunk).json()["predictions"]
        assert [bits(p["probability"]) for p in answer] == alone[start : start + len(chunk)]
        start, size = start + len(chunk), size % 12 + 1

    # ... and 16 clients at once, so the micro-batcher puts several requests in one call
    def one(index: int) -> bytes:
        with server.client.__class__(base_url=server.url, timeout=60) as client:
            return bits(client.post("/v1/predict", json=rows[index]).json()["probability"])

    with ThreadPoolExecutor(16) as pool:
        together = list(pool.map(one, range(len(rows))))
    assert together == alone
    metrics = server.client.get("/metrics").text
    assert "tabship_inference_calls_total" in metrics


def test_more_than_one_intra_op_thread_is_refused(
    version_a: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for value in ("0", "2", "4"):
        with pytest.raises(SettingsError, match=r"TABSHIP_ORT_THREADS.*must be 1"):
            Settings.from_env({"TABSHIP_ORT_THREADS": value}, model_uri=str(version_a))
    with pytest.raises(ValueError, match="must be 1"):
        Model(load_artifact(Settings(), str(version_a)), threads=2)
    model = Model(load_artifact(Settings(), str(version_a)))
    assert model._session.get_session_options().intra_op_num_threads == 1
    source = tmp_path / "in.csv"
    source.write_text("PageValues\n1\n")
    command = ["score", "--model", str(version_a), str(source), str(tmp_path / "o.parquet")]
    assert main([*command, "--ort-threads", "2"]) == 2
    assert "--ort-threads 2: must be 1" in capsys.readouterr().err
