"""Shadow scoring on real server processes: version B scores what version A serves, off the
request path. Its |dP| histogram and disagreements equal what onnxruntime gives for both
versions on the same rows; answers never change; a full queue drops and counts; an
incompatible or unverifiable shadow is refused at start, by name."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fixture_model
import numpy as np
import onnxruntime as ort
import pytest
from conftest import NAME, Server
from fixture_model import write_version
from live_fixture import rows, table

from tabship.runtime.live.shadow import DP_BUCKETS
from tabship.runtime.model.schema import InputSchema

pytestmark = [pytest.mark.server]


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


def wait_for(server: Server, name: str, expected: float, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = server.client.get("/metrics").text
        if metric(text, name) >= expected or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def offline(version: Path, payload: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """(P(positive), decision) from onnxruntime directly, fed as the server feeds it."""
    manifest = json.loads((version / "manifest.json").read_text())
    schema = InputSchema(manifest["inputs"])
    feeds, _ = schema.rows_to_feeds(payload)
    session = ort.InferenceSession(str(version / "model.onnx"), providers=["CPUExecutionProvider"])
    probabilities, _, decisions = session.run(["probabilities", "label", "decision"], feeds)
    return probabilities[:, 1].astype(np.float64), decisions


def test_shadow_histogram_equals_onnxruntime_on_both_versions(
    version_a: Path, version_b: Path, start_server: Callable[..., Server]
) -> None:
    payload = rows(table(400, seed=11))
    plain = start_server(version_a)
    shadowed = start_server(version_a, env={"TABSHIP_SHADOW_MODEL_URI": str(version_b)})
    for start in range(0, len(payload), 40):
        chunk = payload[start : start + 40]
        answer = shadowed.client.post("/v1/predict", json=chunk)
        assert answer.status_code == 200, answer.text
        # the answer never changes: the served version's, as without a shadow
        assert answer.json() == plain.client.post("/v1/predict", json=chunk).json()
    text = wait_for(shadowed, "tabship_shadow_rows_total", len(payload))

    p_a, d_a = offline(version_a, payload)
    p_b, d_b = offline(version_b, payload)
    dp = np.abs(p_a - p_b)
    assert metric(text, "tabship_shadow_rows_total") == len(payload)
    assert metric(text, "tabship_shadow_abs_dp_count") == len(payload)
    assert metric(text, "tabship_shadow_abs_dp_sum") == pytest.approx(dp.sum(), rel=1e-12)
    for bound in DP_BUCKETS:
        label = "1.0" if bound == 1.0 else f"{bound}"
        expected = int(np.count_nonzero(dp <= bound))
        assert metric(text, f'tabship_shadow_abs_dp_bucket{{le="{label}"}}') == expected, bound
    disagreements = int(np.count_nonzero(d_a != d_b))
    assert disagreements > 0  # the versions differ in bias and threshold
    assert metric(text, "tabship_shadow_disagreements_total") == disagreements
    assert metric(text, "tabship_shadow_errors_total") == 0
    assert metric(text, "tabship_shadow_dropped_rows_total") == 0

    summary = shadowed.client.get("/v1/shadow").json()
    assert summary["shadow"]["version"] == version_b.name
    assert summary["rows_compared"] == len(payload)
    assert summary["disagreements"] == disagreements
    assert summary["abs_dp"]["max"] == pytest.approx(dp.max(), abs=1e-12)
    assert summary["abs_dp"]["buckets"]["+Inf"] == len(payload)
    page = shadowed.client.get("/").text
    assert 'id="shadow"' in page
    assert f'<td id="shadow-disagreements">{disagreements}' in page
    assert version_b.name in page
    # without a shadow: a JSON 404 that says how to get one, and nothing on the page
    missing = plain.client.get("/v1/shadow")
    assert missing.status_code == 404
    assert "TABSHIP_SHADOW_MODEL_URI" in missing.json()["error"]["message"]
    assert 'id="shadow"' not in plain.client.get("/").text


def test_a_full_shadow_queue_drops_and_counts_never_delays(
    version_a: Path, version_b: Path, start_server: Callable[..., Server]
) -> None:
    # a queue of 4 rows: every 5-row request is dropped whole, and counted
    server = start_server(
        version_a,
        env={"TABSHIP_SHADOW_MODEL_URI": str(version_b), "TABSHIP_SHADOW_QUEUE_ROWS": "4"},
    )
    payload = rows(table(50, seed=3))
    for start in range(0, 50, 5):
        assert server.client.post("/v1/predict", json=payload[start : start + 5]).status_code == 200
    text = server.client.get("/metrics").text
    assert metric(text, "tabship_shadow_dropped_rows_total") == 50
    assert metric(text, "tabship_shadow_rows_total") == 0
    assert server.client.get("/v1/shadow").json()["dropped_rows"] == 50


def test_sampling_scores_a_share_of_the_rows(
    version_a: Path, version_b: Path, start_server: Callable[..., Server]
) -> None:
    server = start_server(
        version_a,
        env={"TABSHIP_SHADOW_MODEL_URI": str(version_b), "TABSHIP_SHADOW_SAMPLE": "0.25"},
    )
    payload = rows(table(2000, seed=4))
    for start in range(0, 2000, 200):
        assert (
            server.client.post("/v1/predict", json=payload[start : start + 200]).status_code == 200
        )
    deadline = time.monotonic() + 30
    while server.client.get("/v1/shadow").json()["rows_compared"] < 350:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    compared = server.client.get("/v1/shadow").json()["rows_compared"]
    assert 350 <= compared <= 650  # 500 expected; binomial sd ~19


def _refusal(server: Server) -> str:
    assert server.wait_exit(60) == 1, server.log
    return server.log


def test_incompatible_shadow_is_refused_naming_the_columns(
    version_a: Path,
    tmp_path: Path,
    start_server: Callable[..., Server],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a shadow that reads a column the served version never receives ("Surprise"), and
    # refuses a missing ExitRates that the served version accepts
    plain_manifest = fixture_model.manifest_for

    def manifest_for(*args: Any, **kwargs: Any) -> dict[str, Any]:
        manifest = plain_manifest(*args, **kwargs)
        surprise = dict(manifest["inputs"][0], name="Surprise", nullable=False)
        manifest["inputs"].append(surprise)
        next(i for i in manifest["inputs"] if i["name"] == "ExitRates")["nullable"] = False
        return manifest

    monkeypatch.setattr(fixture_model, "manifest_for", manifest_for)
    other = write_version(tmp_path, NAME, "20261126T090000000000Z-99999999", extra_input=True)
    server = start_server(version_a, env={"TABSHIP_SHADOW_MODEL_URI": str(other)}, ready=False)
    log = _refusal(server)
    assert "cannot score what" in log
    assert "columns the served model does not take: ['Surprise']" in log
    assert "refuses missing and the served model allows: ['ExitRates']" in log


def test_shadow_is_verified_like_the_model(
    version_a: Path, version_b: Path, tmp_path: Path, start_server: Callable[..., Server]
) -> None:
    tampered = tmp_path / "tampered"
    shutil.copytree(version_b, tampered)
    data = bytearray((tampered / "model.onnx").read_bytes())
    data[-1] ^= 1
    (tampered / "model.onnx").write_bytes(bytes(data))
    log = _refusal(
        start_server(version_a, env={"TABSHIP_SHADOW_MODEL_URI": str(tampered)}, ready=False)
    )
    assert "shadow model:" in log
    assert "SHA-256" in log
    ungated = write_version(tmp_path, NAME, "20261126T090000000000Z-77777777", parity="failed")
    log = _refusal(
        start_server(version_a, env={"TABSHIP_SHADOW_MODEL_URI": str(ungated)}, ready=False)
    )
    assert "shadow model:" in log
    assert "parity.status" in log
