"""Drift per column on a real server process: the figures in /metrics and GET /v1/drift equal
`tabship drift VERSION DATA` on the same rows; a shift injected in the rows shows in PSI,
missing and unseen rates; labels are the model's columns only; the page shows the table."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import REPO, VERSION_A, Server
from fixture_model import write_version
from live_fixture import add_drift, rows, table

pytestmark = [pytest.mark.server]
NAME = "drifting"


@pytest.fixture(scope="module")
def version(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = write_version(tmp_path_factory.mktemp("drift"), NAME, VERSION_A)
    add_drift(folder, table(3000, seed=1))
    return folder


def offline(version: Path, data: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tabship.cli.main", "drift", str(version), str(data), "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def served(server: Server, frame: pd.DataFrame) -> dict[str, Any]:
    payload = rows(frame)
    for start in range(0, len(payload), 100):
        answer = server.client.post("/v1/predict", json=payload[start : start + 100])
        assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + 30
    while True:
        summary: dict[str, Any] = server.client.get("/v1/drift").json()
        if summary["window_rows"] >= len(payload) or time.monotonic() > deadline:
            return summary
        time.sleep(0.05)


def gauges(text: str) -> dict[tuple[str, str], float]:
    out = {}
    for line in text.splitlines():
        if line.startswith("tabship_drift_") and "{column=" in line:
            name, rest = line.split("{column=", 1)
            column, value = rest.rsplit("} ", 1)
            out[(name.removeprefix("tabship_drift_"), json.loads(column))] = float(value)
    return out


def same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)


def test_served_drift_equals_the_offline_command_and_shows_a_shift(
    version: Path, tmp_path: Path, start_server: Callable[..., Server]
) -> None:
    steady, shifted = table(600, seed=2), table(600, seed=3, shift=True)
    results = {}
    for label, frame in (("steady", steady), ("shifted", shifted)):
        server = start_server(
            version, env={"TABSHIP_DRIFT": "1", "TABSHIP_DRIFT_WINDOW_ROWS": "4000"}
        )
        live = served(server, frame)
        data = tmp_path / f"{label}.parquet"
        frame.to_parquet(data)
        batch = offline(version, data)
        assert batch["rows"] == live["window_rows"] == len(frame)
        assert batch["refused_rows"] == 0
        assert batch["columns"].keys() == live["columns"].keys()
        metrics = gauges(server.client.get("/metrics").text)
        for column, figures in batch["columns"].items():
            for figure, value in figures.items():
                assert same(live["columns"][column][figure], value), (label, column, figure)
                if figure != "rows":
                    shown = metrics[(figure, column)]
                    assert (value is None and math.isnan(shown)) or same(shown, value)
        # the label set is the model's columns, nothing a request can add
        assert {column for _, column in metrics} == set(batch["columns"])
        results[label] = batch["columns"]
        page = server.client.get("/").text
        assert 'id="drift"' in page
        assert 'data-column="PageValues"' in page
        server.stop()

    steady_f, shifted_f = results["steady"], results["shifted"]
    assert all(f["psi"] < 0.1 for f in steady_f.values()), steady_f
    assert shifted_f["PageValues"]["psi"] > 0.25
    assert shifted_f["PageValues"]["out_of_range_rate"] > 0.05
    assert shifted_f["Month"]["psi"] > 0.25
    assert shifted_f["ExitRates"]["missing_rate"] > steady_f["ExitRates"]["missing_rate"] + 0.1
    assert shifted_f["VisitorType"]["unseen_rate"] > 0.1
    assert steady_f["VisitorType"]["unseen_rate"] == 0


def test_drift_is_off_unless_asked_and_needs_a_reference(
    version: Path, version_a: Path, start_server: Callable[..., Server]
) -> None:
    server = start_server(version)
    answer = server.client.get("/v1/drift")
    assert answer.status_code == 404
    assert "TABSHIP_DRIFT=1" in answer.json()["error"]["message"]
    assert "tabship_drift_" not in server.client.get("/metrics").text
    # a version exported before drift references existed: refused at start, by name
    old = start_server(version_a, env={"TABSHIP_DRIFT": "1"}, ready=False)
    assert old.wait_exit(60) == 2
    assert "no drift reference" in old.log


def test_offline_command_errors_are_one_line(version: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("PageValues\n1\n")
    done = subprocess.run(
        [sys.executable, "-m", "tabship.cli.main", "drift", str(version), str(bad)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "Administrative" in done.stderr  # a required column that is absent
