"""The model page of a multiclass model in a real headless chromium: the card lists the classes
instead of a threshold, the multiclass metrics and the verified confusion-matrix and per-class
PR plots show, and the form's row scores to the class name /v1/predict answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from browser import browser, image_sizes, open_page, screenshot  # noqa: F401 (fixture)
from playwright.sync_api import Browser

pytestmark = [pytest.mark.server, pytest.mark.slow]


def test_multiclass_page_shows_classes_plots_and_scores(
    browser: Browser,  # noqa: F811
    penguins_version: Any,
    start_server: Callable[..., Any],
) -> None:
    server = start_server(penguins_version.version_dir)
    classes = list(penguins_version.declaration.classes)
    watched = open_page(browser, server.url + "/")
    page = watched.page
    card = page.text_content("#classes") or ""
    assert all(name in card for name in classes)
    assert page.locator("#threshold").count() == 0
    metrics = page.text_content("#metrics") or ""
    assert "f1_macro" in metrics
    assert "roc_auc_ovr_macro" in metrics
    assert "class name flips" in (page.text_content("#parity") or "")
    sizes = image_sizes(page)
    assert len(sizes) == 3
    assert all(s["complete"] and s["width"] > 100 for s in sizes), sizes
    screenshot(page, "model_page_multiclass.png")

    page.click("#score-form button[type=submit]")
    page.wait_for_selector('#result[data-state="scored"]', timeout=30_000)
    row = page.eval_on_selector_all(
        "#score-form input[data-column]",
        "inputs => Object.fromEntries(inputs.map(i => [i.dataset.column, i.value === '' ? null : i.value]))",
    )
    direct = server.client.post("/v1/predict", json=row).json()
    assert page.get_attribute("#result", "data-label") == direct["label"]
    assert direct["label"] in classes
    shown = json.loads(page.get_attribute("#result", "data-probabilities") or "{}")
    assert shown == direct["probabilities"]
    assert f"label {direct['label']}" in (page.text_content("#result") or "")
    assert watched.problems() == []
    page.close()
