"""The model page in a real headless chromium: GET / on a real server renders the card,
the parity verdicts, the schema and the verified plots, scores the form's row through
/v1/predict and lists every problem of a 422; its headers and policy on the app in this
process; `tabship report` writes the same page as one file that fetches nothing. Screenshots
land in build/screenshots/ (paths printed)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from browser import browser, image_sizes, open_page, screenshot  # noqa: F401 (fixture)
from conftest import NAME, REPO
from fixture_model import write_version
from playwright.sync_api import Browser
from report_fixture import PLOTS, add_report

pytestmark = pytest.mark.slow
VERSION = "20261126T090000000000Z-5c6d7e8f"


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = write_version(tmp_path_factory.mktemp("reported"), NAME, VERSION, threshold=0.35)
    add_report(folder)
    return folder


def _manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text())


@pytest.mark.server
def test_served_page_renders_scores_and_shows_a_422(
    browser: Browser,  # noqa: F811
    reported: Path,
    start_server: Callable[..., Any],
) -> None:
    server = start_server(reported)
    manifest = _manifest(reported)
    watched = open_page(browser, server.url + "/")
    page = watched.page

    assert page.title() == f"{NAME} {VERSION}"
    assert page.text_content("#model-name") == NAME
    assert page.text_content("#model-version") == VERSION
    assert page.text_content("#parity-status") == "passed"
    assert page.locator("#parity tr[data-set]").count() == 2
    assert "passed" in (page.text_content('#parity tr[data-set="hostile"]') or "")
    assert "0.350000" in (page.text_content("#threshold") or "")
    assert "max_f1" in (page.text_content("#threshold") or "")
    metrics = page.text_content("#metrics") or ""
    assert "roc_auc" in metrics
    assert "0.9000" in metrics
    assert "train rows" in (page.text_content("#rows") or "")
    schema_rows = page.locator("#schema tr[data-column]")
    assert schema_rows.count() == len(manifest["inputs"])
    month = page.text_content('#schema tr[data-column="Month"]') or ""
    assert "nov" in month
    assert "november -> nov" in month
    assert "observed 0.0000 .. 361.8000" in (
        page.text_content('#schema tr[data-column="PageValues"]') or ""
    )
    sizes = image_sizes(page)
    assert len(sizes) == len(PLOTS)
    assert all(s["complete"] and s["width"] > 100 for s in sizes), sizes
    screenshot(page, "model_page.png")

    # the prefilled example row, scored through the page's form
    page.click("#score-form button[type=submit]")
    page.wait_for_selector('#result[data-state="scored"]', timeout=30_000)
    row = page.eval_on_selector_all(
        "#score-form input[data-column]",
        "inputs => Object.fromEntries(inputs.map(i => [i.dataset.column, i.value === '' ? null : i.value]))",
    )
    direct = server.client.post("/v1/predict", json=row).json()
    shown = page.get_attribute("#result", "data-probability")
    assert shown is not None
    assert float(shown) == direct["probability"]
    assert page.get_attribute("#result", "data-label") == str(direct["label"])
    assert f"{direct['probability']:.6f}" in (page.text_content("#result") or "")

    # two problems at once: text that is not a number, a required column left empty
    page.fill('input[data-column="PageValues"]', "lots")
    page.fill('input[data-column="VisitorType"]', "")
    page.click("#score-form button[type=submit]")
    page.wait_for_selector('#result[data-state="refused"]', timeout=30_000)
    assert page.get_attribute("#result", "data-status") == "422"
    problems = page.eval_on_selector_all(
        "#problems tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    columns = {column for _, column, _ in problems}
    assert columns == {"PageValues", "VisitorType"}, problems
    assert all(reason for _, _, reason in problems)
    screenshot(page, "model_page_422.png")

    # nothing fetched but the page and /v1/predict on its own origin; no console complaints
    assert all(url.startswith(server.url + "/") for url in watched.requests), watched.requests
    assert {url.removeprefix(server.url) for url in watched.requests} == {"/", "/v1/predict"}
    # chromium logs the 422 the test asked for as a failed resource load; nothing else
    expected = "error: Failed to load resource: the server responded with a status of 422"
    assert [m for m in watched.problems() if not m.startswith(expected)] == []
    page.close()


def test_page_headers_and_policy_match_the_inline_code(
    reported: Path, start_app: Callable[..., Any]
) -> None:
    import base64
    import hashlib

    app_server = start_app(reported)
    response = app_server.client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "connect-src 'self'" in policy
    html = response.text
    for tag, directive in (("style", "style-src"), ("script", "script-src")):
        body = re.search(rf"<{tag}>(.*?)</{tag}>", html, re.DOTALL)
        assert body is not None
        digest = base64.b64encode(hashlib.sha256(body.group(1).encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in policy
    assert "http://" not in html.replace(app_server.url, "")
    assert "https://" not in html
    # the page is counted like every route
    metrics = app_server.client.get("/metrics").text
    counted = [
        line
        for line in metrics.splitlines()
        if line.startswith("tabship_http_requests_total{")
        and all(label in line for label in ('route="/"', 'method="GET"', 'status="200"'))
    ]
    assert len(counted) == 1, metrics


def _report(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tabship.cli.main", "report", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def test_report_file_is_self_contained_and_never_overwritten(
    browser: Browser,  # noqa: F811
    reported: Path,
    tmp_path: Path,
) -> None:
    output = tmp_path / "page.html"
    done = _report(str(reported), "-o", str(output))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(output)
    watched = open_page(browser, output.as_uri())
    page = watched.page
    assert page.text_content("#model-name") == NAME
    assert page.text_content("#parity-status") == "passed"
    sizes = image_sizes(page)
    assert len(sizes) == len(PLOTS)
    assert all(s["width"] > 100 for s in sizes), sizes
    assert page.is_disabled("#score-form button[type=submit]")
    assert "needs the server" in (page.text_content("#score") or "")
    screenshot(page, "model_report_file.png")
    assert watched.requests == [output.as_uri()]
    assert watched.problems() == []
    page.close()

    first = output.read_bytes()
    again = _report(str(reported), "-o", str(output))
    assert again.returncode == 2
    assert "already exists; not overwriting it" in again.stderr
    assert output.read_bytes() == first
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]  # no temporary left


def test_report_names_a_plot_that_does_not_match_the_manifest(
    reported: Path, tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / NAME / VERSION
    shutil.copytree(reported, copy)
    roc = copy / "report" / "roc_curve.png"
    roc.write_bytes(roc.read_bytes() + b"tampered")
    (copy / "report" / "calibration.png").unlink()
    output = tmp_path / "page.html"
    done = _report(str(copy), "-o", str(output))
    assert done.returncode == 0, done.stderr
    assert "roc_curve.png not shown" in done.stderr
    assert "SHA-256 differs" in done.stderr
    assert "calibration.png not shown" in done.stderr
    assert "no such file" in done.stderr
    html = output.read_text()
    assert html.count('<img alt="') == 2
    assert "roc_curve.png: not shown" in html
    assert "calibration.png: not shown" in html


def test_report_refusals_are_clear(tmp_path: Path, reported: Path) -> None:
    missing = _report(str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert missing.stderr.startswith("tabship report: ")
    assert "no such file" in missing.stderr
    assert "Traceback" not in missing.stderr
    nowhere = _report(str(reported), "-o", str(tmp_path / "absent" / "page.html"))
    assert nowhere.returncode == 2
    assert "no such directory" in nowhere.stderr
    tampered = tmp_path / NAME / VERSION
    import shutil

    shutil.copytree(reported, tampered)
    model = tampered / "model.onnx"
    model.write_bytes(model.read_bytes() + b"\x00")
    refused = _report(str(tampered), "-o", str(tmp_path / "t.html"))
    assert refused.returncode == 2
    assert "SHA-256" in refused.stderr
    assert not (tmp_path / "t.html").exists()
