"""The page's HTML, built from the manifest with every value escaped; CSS and JS are read from
the package and inlined, plots inlined as data: URIs, so the document needs nothing else."""

from __future__ import annotations

import base64
import hashlib
import json
import math
from dataclasses import dataclass
from html import escape
from importlib import resources
from typing import Any

from tabship.contract.target import target_of
from tabship.runtime.page.plots import Plot

PREDICT_PATH = "/v1/predict"
EXPLAIN_QUERY = "?explain=all"  # a version with an explainer: the form shows the contributions


@dataclass(frozen=True)
class Page:
    html: str
    # The policy that lets exactly this page's inline style and script run and fetch nothing
    # but /v1/predict on its own origin (live) or nothing at all (a file).
    content_security_policy: str


# Where a served page shows its live evidence (shadow, drift), rendered at each request.
LIVE_MARKER = "<!-- tabship live evidence -->"


def _asset(name: str) -> str:
    return (
        resources.files("tabship.runtime.page").joinpath("assets", name).read_text(encoding="utf-8")
    )


def _hash_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _number(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-" if value is None else escape(str(value))
    if isinstance(value, float) and not math.isfinite(value):
        return escape(str(value))
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _bound(value: Any, unbounded: str) -> str:
    return unbounded if value is None else _number(value)


def _card(key: str, value: str) -> str:
    return f'<div class="card"><div class="k">{escape(key)}</div><div class="v">{value}</div></div>'


def _summary(manifest: dict[str, Any]) -> str:
    metrics = manifest.get("metrics", {})
    target = target_of(manifest)
    dataset = manifest.get("dataset", {})
    rows = manifest.get("data", {}).get("rows", {})
    metric_cards = "".join(
        _card(name, _number(metrics[name])) for name in target.metric_names if name in metrics
    )
    row_cards = "".join(
        _card(f"{part} rows", _number(rows[part]))
        for part in ("raw", "clean", "train", "test")
        if part in rows
    )
    variant = manifest.get("variant", {})
    excluded = ", ".join(variant.get("excluded_columns", [])) or "none"
    return f"""
<section id="card"><h2>Model card</h2>
<table class="facts">
<tr><th>data set</th><td>{escape(str(dataset.get("name", "-")))} (target
  <code>{escape(str(dataset.get("target", "-")))}</code>, declaration
  {escape(str(dataset.get("declaration", "-")))})</td></tr>
<tr><th>data source</th><td>{escape(str(manifest.get("data", {}).get("source", "-")))}</td></tr>
<tr><th>variant</th><td>{escape(str(variant.get("name", "-")))} (excluded columns:
  {escape(excluded)})</td></tr>
{target.page_row(manifest, _number)}
<tr><th>created</th><td>{escape(str(manifest.get("created_at", "-")))}</td></tr>
</table>
<h3>Rows</h3><div class="cards" id="rows">{row_cards}</div>
<h3>Test metrics (held-out test set)</h3><div class="cards" id="metrics">{metric_cards}</div>
</section>"""


def _parity(manifest: dict[str, Any]) -> str:
    parity = manifest.get("parity", {})
    status = str(parity.get("status", "unknown"))
    verdict = "passed" if status == "passed" else "failed"
    bar = parity.get("bar", {})
    limit = bar.get("max_abs_dp")
    bar_text = f"max |dP| &lt;= {escape(f'{limit:g}' if isinstance(limit, float) else str(limit))}"
    lines = []
    for entry in parity.get("sets", []):
        if not isinstance(entry, dict):
            continue
        passed = bool(entry.get("passed"))
        dp = entry.get("max_abs_dp")
        detail = entry.get("error") or entry.get("note") or ""
        lines.append(
            f'<tr data-set="{escape(str(entry.get("name", "")))}">'
            f"<td>{escape(str(entry.get('name', '-')))}</td>"
            f'<td class="num">{_number(entry.get("rows"))}</td>'
            f'<td class="num">{escape(f"{dp:.3g}") if isinstance(dp, float) else _number(dp)}</td>'
            f'<td class="num">{_number(entry.get("flips"))}</td>'
            f'<td class="num">{_number(entry.get("threshold_flips"))}</td>'
            f'<td class="{"passed" if passed else "failed"}">{"passed" if passed else "FAILED"}</td>'
            f"<td>{escape(str(detail))}</td></tr>"
        )
    headings = "".join(f"<th>{name}</th>" for name in target_of(manifest).flip_headings)
    table = (
        "<table><tr><th>set</th><th>rows</th><th>max |dP|</th>"
        + headings
        + "<th>verdict</th><th>note</th></tr>"
        + "".join(lines)
        + "</table>"
        if lines
        else '<p class="missing">no per-set results recorded (the gate has not run)</p>'
    )
    return f"""
<section id="parity"><h2>Parity gate: <span class="{verdict}" id="parity-status">{escape(status)}</span></h2>
<p class="note">Reference pipeline vs this ONNX graph on onnxruntime, row by row; bar:
{bar_text}, no label flips. Checked {escape(str(parity.get("checked_at", "-")))}.</p>
{table}</section>"""


def _describe_input(entry: dict[str, Any]) -> tuple[str, str]:
    """(values column, cleaning column) of the schema table."""
    cleaning = "; ".join(str(rule) for rule in entry.get("cleaning", []))
    if entry.get("kind") == "numeric":
        observed = entry.get("range") or {}
        bounds = entry.get("bounds") or {}
        values = (
            f"observed {_number(observed.get('min'))} .. {_number(observed.get('max'))}"
            if observed
            else "observed: none"
        ) + f"; bounds {_bound(bounds.get('min'), '-inf')} .. {_bound(bounds.get('max'), 'inf')}"
        return values, escape(cleaning)
    categories = [str(c) for c in entry.get("categories", [])]
    shown = ", ".join(categories[:40]) + (
        f" (+{len(categories) - 40} more)" if len(categories) > 40 else ""
    )
    aliases = entry.get("aliases") or {}
    extra = []
    if aliases:
        extra.append("aliases: " + ", ".join(f"{k} -> {v}" for k, v in list(aliases.items())[:20]))
    if entry.get("integer_codes"):
        extra.append('integer codes (2, 2.0, "02" are one category)')
    return (
        f'<span class="cats">{escape(shown)}</span>',
        escape("; ".join([cleaning, *extra]) if cleaning else "; ".join(extra)),
    )


def _schema(inputs: list[dict[str, Any]]) -> str:
    rows = []
    for entry in inputs:
        values, cleaning = _describe_input(entry)
        rows.append(
            f'<tr data-column="{escape(str(entry["name"]))}"><td><code>{escape(str(entry["name"]))}</code></td>'
            f"<td>{escape(str(entry.get('kind')))}</td>"
            f"<td>{'yes' if entry.get('nullable') else 'no'}</td>"
            f"<td>{values}</td><td>{cleaning}</td></tr>"
        )
    return f"""
<section id="schema"><h2>Input schema ({len(inputs)} columns)</h2>
<table><tr><th>column</th><th>kind</th><th>nullable</th><th>categories / range</th>
<th>cleaning</th></tr>{"".join(rows)}</table></section>"""


def _plots(plots: list[Plot]) -> str:
    figures = []
    for plot in plots:
        if plot.data is None:
            body = f'<p class="missing">{escape(plot.file)}: not shown ({escape(plot.reason or "")})</p>'
        else:
            encoded = base64.b64encode(plot.data).decode("ascii")
            body = f'<img alt="{escape(plot.caption)}" src="data:image/png;base64,{encoded}">'
        figures.append(
            f'<figure data-plot="{escape(plot.file)}">{body}<figcaption>{escape(plot.caption)}'
            "</figcaption></figure>"
        )
    return f'<section id="plots"><h2>Report plots</h2><div class="plots">{"".join(figures)}</div></section>'


def example_value(entry: dict[str, Any]) -> str:
    """A value the schema accepts, to start the form from: the middle of the observed range,
    or the first known category."""
    if entry.get("kind") == "numeric":
        observed = entry.get("range") or {}
        low, high = observed.get("min"), observed.get("max")
        if not isinstance(low, int | float) or not isinstance(high, int | float):
            return ""
        middle = (low + high) / 2
        return (
            str(round(middle))
            if float(low).is_integer() and float(high).is_integer()
            else f"{middle:.6g}"
        )
    categories = entry.get("categories") or []
    return str(categories[0]) if categories else ""


def _form(inputs: list[dict[str, Any]], live: bool, explained: bool = False) -> str:
    fields = []
    for index, entry in enumerate(inputs):
        name = str(entry["name"])
        options = ""
        listed = ""
        if entry.get("kind") == "categorical":
            listed = f' list="choices-{index}"'
            options = (
                f'<datalist id="choices-{index}">'
                + "".join(f'<option value="{escape(str(c))}">' for c in entry.get("categories", []))
                + "</datalist>"
            )
        fields.append(
            f'<div><label for="field-{index}">{escape(name)} ({escape(str(entry.get("kind")))}'
            f"{', may be empty' if entry.get('nullable') else ''})</label>"
            f'<input id="field-{index}" data-column="{escape(name)}"{listed} '
            f'value="{escape(example_value(entry))}" autocomplete="off">{options}</div>'
        )
    note = (
        "Empty fields are sent as null; the server validates and names every problem."
        if live
        else "This page is a file: scoring needs the server. Open GET / on <code>tabship serve</code>."
    )
    disabled = "" if live else " disabled"
    return f"""
<section id="score"><h2>Score one row</h2>
<form id="score-form" data-endpoint="{PREDICT_PATH}{EXPLAIN_QUERY if explained else ""}"><div class="grid">{"".join(fields)}</div>
<div class="actions"><button type="submit"{disabled}>Score</button>
<span class="note">{note}</span></div></form>
<div id="result" data-state="idle"></div></section>"""


def render_page(manifest: dict[str, Any], sha256: str, plots: list[Plot], *, live: bool) -> Page:
    """The whole page for one version. `live`: served by the model's own server (the form
    posts to /v1/predict); otherwise a file, whose form is shown but cannot post."""
    style, script = _asset("page.css"), _asset("page.js")
    name, version = str(manifest["name"]), str(manifest["version"])
    inputs = list(manifest.get("inputs", []))
    page_data = json.dumps({"name": name, "version": version, "live": live}).replace("<", "\\u003c")
    connect = "'self'" if live else "'none'"
    policy = (
        f"default-src 'none'; img-src data:; style-src {_hash_source(style)}; "
        f"script-src {_hash_source(script)}; connect-src {connect}; "
        "form-action 'none'; base-uri 'none'"
    )
    # A file carries its policy in a meta element; a served page gets it as a header.
    meta = "" if live else f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
    html = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
{meta}<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(name)} {escape(version)}</title>
<style>{style}</style></head>
<body data-live="{"1" if live else "0"}">
<header><h1 id="model-name">{escape(name)}</h1>
<div class="sub">version <span id="model-version">{escape(version)}</span> &middot; model.onnx SHA-256
<code>{escape(sha256)}</code></div></header>
<main>{_summary(manifest)}{_parity(manifest)}{LIVE_MARKER if live else ""}{_plots(plots)}{_schema(inputs)}{_form(inputs, live, "explanations" in manifest)}</main>
<script type="application/json" id="page-data">{page_data}</script>
<script>{script}</script>
</body></html>
"""
    return Page(html=html, content_security_policy=policy + "; frame-ancestors 'none'")
