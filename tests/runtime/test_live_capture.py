"""Request capture on real server processes: after SIGTERM the Parquet files hold exactly the
accepted sampled rows (none lost, none twice) with their answers and request ids; files rotate
by size and age; the disk budget holds; sensitive and excluded columns are never written; a
failing or stalled target never changes an answer nor makes a request wait for it."""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fixture_model
import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import NAME, Server
from fixture_model import write_version
from live_fixture import rows, table

pytestmark = [pytest.mark.server]
CAPTURE_ROWS = re.compile(
    r"capture: (\d+) rows stored in (\d+) files at .*; rows dropped: queue_full (\d+), "
    r"budget (\d+), error (\d+)"
)


def captured(folder: Path) -> Any:
    files = sorted(p for p in folder.glob("*.parquet") if not p.name.startswith((".", "_")))
    assert files, f"no capture file in {folder}"
    return pq.read_table(files).to_pandas(), files


def closing_counts(server: Server) -> tuple[int, ...]:
    match = CAPTURE_ROWS.search(server.log)
    assert match, server.log
    return tuple(int(x) for x in match.groups())


def post(server: Server, payload: list[dict[str, Any]], rid: str) -> dict[str, Any]:
    answer = server.client.post("/v1/predict", json=payload, headers={"X-Request-Id": rid})
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-request-id"] == rid
    return answer.json()  # type: ignore[no-any-return]


def test_capture_holds_exactly_the_accepted_rows_after_sigterm(
    tmp_path: Path, start_server: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = fixture_model.manifest_for

    def manifest_for(*args: Any, **kwargs: Any) -> dict[str, Any]:
        manifest = plain(*args, **kwargs)
        next(i for i in manifest["inputs"] if i["name"] == "Month")["sensitive"] = True
        return manifest

    monkeypatch.setattr(fixture_model, "manifest_for", manifest_for)
    version = write_version(tmp_path / "reg", NAME, "20261126T070000000000Z-0a1b2c3d")
    folder = tmp_path / "capture"
    server = start_server(
        version,
        env={
            "TABSHIP_CAPTURE_URI": str(folder),
            "TABSHIP_CAPTURE_EXCLUDE": "ExitRates",
            "TABSHIP_CAPTURE_FILE_BYTES": "2000",  # several files
        },
    )
    frame = table(900, seed=7)
    payload = rows(frame)
    answers: dict[str, list[float]] = {}
    sent = 0
    for index, start in enumerate(range(0, 900, 30)):
        rid = f"req-{index:03d}"
        body = post(server, payload[start : start + 30], rid)
        answers[rid] = [p["probability"] for p in body["predictions"]]
        sent += 30
    anonymous = server.client.post("/v1/predict", json=payload[0])  # an id made by the server
    made = anonymous.headers["x-request-id"]
    assert re.fullmatch("[0-9a-f]{32}", made)
    assert server.stop() == 0
    data, files = captured(folder)
    assert len(files) > 1  # rotated by size
    assert not list(folder.glob(".*"))  # no temporary file left behind
    assert (folder / "_tabship_capture.json").is_file()
    assert len(data) == sent + 1
    keys = list(zip(data["_tabship_request_id"], data["_tabship_row"], strict=True))
    assert len(set(keys)) == len(keys)  # none twice
    assert set(keys) == {(f"req-{i:03d}", r) for i in range(30) for r in range(30)} | {(made, 0)}
    # never written: the sensitive column and the excluded one
    assert "Month" not in data.columns
    assert "ExitRates" not in data.columns
    assert {"PageValues", "VisitorType", "OperatingSystems"} <= set(data.columns)
    ordered = data[data["_tabship_request_id"] != made].sort_values(
        ["_tabship_request_id", "_tabship_row"]
    )
    np.testing.assert_array_equal(ordered["PageValues"].to_numpy(), frame["PageValues"].to_numpy())
    expected = [p for rid in sorted(answers) for p in answers[rid]]
    np.testing.assert_allclose(
        ordered["_tabship_probability"].to_numpy(), expected, rtol=0, atol=1e-7
    )
    assert set(data["_tabship_model"]) == {NAME}
    assert closing_counts(server) == (sent + 1, len(files), 0, 0, 0)


def test_files_rotate_by_age_while_serving(
    version_a: Path, tmp_path: Path, start_server: Callable[..., Server]
) -> None:
    folder = tmp_path / "capture"
    server = start_server(
        version_a, env={"TABSHIP_CAPTURE_URI": str(folder), "TABSHIP_CAPTURE_FILE_AGE_S": "0.5"}
    )
    post(server, rows(table(10, seed=1)), "early")
    deadline = time.monotonic() + 20
    while not list(folder.glob("capture-*.parquet")):
        assert time.monotonic() < deadline, "no file stored by age"
        time.sleep(0.1)
    data, _ = captured(folder)
    assert list(data["_tabship_request_id"]) == ["early"] * 10


def test_the_disk_budget_holds_and_drops_are_counted(
    version_a: Path, tmp_path: Path, start_server: Callable[..., Server]
) -> None:
    folder = tmp_path / "capture"
    budget = 120_000
    server = start_server(
        version_a,
        env={
            "TABSHIP_CAPTURE_URI": str(folder),
            "TABSHIP_CAPTURE_BUDGET_BYTES": str(budget),
            "TABSHIP_CAPTURE_FILE_BYTES": "8000",
        },
    )
    payload = rows(table(4000, seed=9))
    for index, start in enumerate(range(0, 4000, 100)):
        post(server, payload[start : start + 100], f"r{index}")
    metrics = server.client.get("/metrics").text
    server.stop()
    data, files = captured(folder)
    assert (
        sum(f.stat().st_size for f in files) + (folder / "_tabship_capture.json").stat().st_size
        <= budget
    )
    stored, n_files, queue_full, over_budget, errors = closing_counts(server)
    assert stored == len(data)
    assert n_files == len(files)
    assert over_budget > 0  # the budget stopped capture
    assert stored + queue_full + over_budget + errors == 4000  # every row accounted for
    assert 'tabship_capture_dropped_rows_total{reason="budget"}' in metrics


def test_a_failing_target_never_changes_an_answer(
    version_a: Path, tmp_path: Path, start_server: Callable[..., Server]
) -> None:
    folder = tmp_path / "capture"
    server = start_server(
        version_a, env={"TABSHIP_CAPTURE_URI": str(folder), "TABSHIP_CAPTURE_FILE_AGE_S": "0.2"}
    )
    plain = start_server(version_a)
    shutil.rmtree(folder)
    folder.write_text("not a folder any more")  # every write now fails
    payload = rows(table(200, seed=5))
    for index, start in enumerate(range(0, 200, 20)):
        chunk = payload[start : start + 20]
        body = post(server, chunk, f"f{index}")
        assert body == plain.client.post("/v1/predict", json=chunk).json()
    deadline = time.monotonic() + 20
    wanted = 'tabship_capture_dropped_rows_total{reason="error"} 200.0'
    while wanted not in server.client.get("/metrics").text:
        assert time.monotonic() < deadline, server.log
        time.sleep(0.1)
    assert server.stop() == 0


@pytest.fixture
def stalled_endpoint() -> Iterator[str]:
    """An S3 endpoint that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


def test_a_stalled_target_never_makes_a_request_wait(
    version_a: Path, stalled_endpoint: str, start_server: Callable[..., Server]
) -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": stalled_endpoint,
        "TABSHIP_CAPTURE_URI": "s3://captures/live",
        "TABSHIP_CAPTURE_FILE_AGE_S": "0.2",
        "TABSHIP_CAPTURE_QUEUE_ROWS": "100",
        "TABSHIP_FETCH_TIMEOUT_S": "60",
        "TABSHIP_SHUTDOWN_TIMEOUT_S": "2",
    }
    server = start_server(version_a, env=env)
    plain = start_server(version_a)
    payload = rows(table(1600, seed=6))
    slowest = 0.0
    for index, start in enumerate(range(0, 1600, 20)):
        chunk = payload[start : start + 20]
        began = time.perf_counter()
        body = post(server, chunk, f"s{index}")
        slowest = max(slowest, time.perf_counter() - began)
        assert body == plain.client.post("/v1/predict", json=chunk).json()
        time.sleep(0.03)
    # the target has not answered once in this time: no request waited for it (the writer
    # is stuck in its first put for up to 60 s; the queue filled and dropped instead)
    assert slowest < 5.0
    metrics = server.client.get("/metrics").text
    dropped = re.search(r'tabship_capture_dropped_rows_total\{reason="queue_full"\} (\S+)', metrics)
    assert dropped
    assert float(dropped.group(1)) > 0
    assert "tabship_capture_rows_total 0.0" in metrics
