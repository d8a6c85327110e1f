"""The model page's form shows the scored row's contributions as a bar chart (in Chromium),
for a binary and a multiclass version; a version without explainer shows none."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from browser import browser, open_page, screenshot  # noqa: F401 (fixture)
from playwright.sync_api import Browser

pytestmark = [pytest.mark.slow, pytest.mark.server]


def _scored_chart(page: Any) -> list[tuple[str, float]]:
    page.click("#score-form button[type=submit]")
    page.wait_for_selector('#result[data-state="scored"]', timeout=30_000)
    return [
        (column, float(value))
        for column, value in page.eval_on_selector_all(
            "#contributions .bar-row",
            "rows => rows.map(r => [r.dataset.column, r.dataset.value])",
        )
    ]


def _form_row(page: Any) -> dict[str, Any]:
    row: dict[str, Any] = page.eval_on_selector_all(
        "#score-form input[data-column]",
        "inputs => Object.fromEntries(inputs.map(i => [i.dataset.column, "
        "i.value === '' ? null : i.value]))",
    )
    return row


def test_binary_bar_chart(
    browser: Browser,  # noqa: F811
    exported: Any,
    start_server: Callable[..., Any],
) -> None:
    server = start_server(exported.version_dir, {"TABSHIP_ALLOW_UNGATED": "1"})
    page = open_page(browser, server.url + "/").page
    chart = _scored_chart(page)
    direct = server.client.post("/v1/predict?explain=all", json=_form_row(page)).json()
    expected = direct["contributions"]["values"]
    assert [c for c, _ in chart] == list(expected)  # every column, largest first
    assert all(v == expected[c] for c, v in chart)
    widths = page.eval_on_selector_all(
        "#contributions .bar", "bars => bars.map(b => b.getBoundingClientRect().width)"
    )
    assert widths[0] == max(widths) > 0
    assert page.locator("#contributions .bar.up").count() == sum(v >= 0 for _, v in chart)
    caption = page.text_content("#contributions figcaption") or ""
    assert f"{direct['contributions']['bias']:.4f}" in caption
    screenshot(page, "model_page_contributions.png")


def test_multiclass_bar_chart_of_the_predicted_class(
    browser: Browser,  # noqa: F811
    penguins_version: Any,
    start_server: Callable[..., Any],
) -> None:
    server = start_server(penguins_version.version_dir)
    page = open_page(browser, server.url + "/").page
    chart = _scored_chart(page)
    direct = server.client.post("/v1/predict?explain=all", json=_form_row(page)).json()
    expected = direct["contributions"]["classes"][direct["label"]]["values"]
    assert chart == list(expected.items())
    assert direct["label"] in (page.text_content("#contributions figcaption") or "")


def test_no_chart_without_explainer(
    browser: Browser,  # noqa: F811
    version_a: Any,
    start_server: Callable[..., Any],
) -> None:
    server = start_server(version_a)
    page = open_page(browser, server.url + "/").page
    assert _scored_chart(page) == []
    assert page.get_attribute("#score-form", "data-endpoint") == "/v1/predict"
