"""The model page's live evidence: the shadow version's agreement and the drift per column,
rendered at each GET / from the same figures as GET /v1/shadow and GET /v1/drift."""

from __future__ import annotations

from html import escape
from typing import Any

from tabship.runtime.live.hub import Live

# PSI reading used across the industry: < 0.1 stable, 0.1-0.25 moderate, > 0.25 major shift.
PSI_BANDS = ((0.1, "stable"), (0.25, "moderate"))


def _figure(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _band(psi: float | None) -> str:
    if psi is None:
        return "no rows"
    return next((name for bound, name in PSI_BANDS if psi < bound), "major")


def shadow_section(live: Live) -> str:
    if live.shadow is None:
        return ""
    model = live.shadow.model
    stats = live.shadow.stats.snapshot()
    dp = stats["abs_dp"]
    buckets = "".join(
        f'<tr><td>&lt;= {escape(bound)}</td><td class="num">{count}</td></tr>'
        for bound, count in dp["buckets"].items()
    )
    return f"""
<section id="shadow"><h2>Shadow version</h2>
<p><code>{escape(model.name)} {escape(model.version)}</code> scores
{live.shadow.sample:.0%} of the rows after each answer is sent; answers come from the served
version only.</p>
<table class="facts">
<tr><th>rows compared</th><td id="shadow-rows">{stats["rows_compared"]}</td></tr>
<tr><th>label disagreements</th><td id="shadow-disagreements">{stats["disagreements"]}
 ({_rate(stats["disagreement_rate"])})</td></tr>
<tr><th>|dP| mean / max</th><td id="shadow-dp">{_figure(dp["mean"], 6)} / {_figure(dp["max"], 6)}</td></tr>
<tr><th>errors / dropped rows</th><td id="shadow-errors">{stats["errors"]} / {stats["dropped_rows"]}</td></tr>
</table>
<h3>|dP| distribution (cumulative rows)</h3>
<table class="facts" id="shadow-buckets">{buckets}</table>
</section>"""


def drift_section(live: Live) -> str:
    if live.drift is None:
        return ""
    summary: dict[str, Any] = live.drift.summary()
    rows = []
    for column, figures in summary["columns"].items():
        psi = figures.get("psi")
        rows.append(
            f'<tr data-column="{escape(column)}"><td>{escape(column)}</td>'
            f'<td class="num">{_figure(psi)}</td><td>{_band(psi)}</td>'
            f'<td class="num">{_rate(figures.get("missing_rate"))}</td>'
            f'<td class="num">{_rate(figures.get("out_of_range_rate"))}</td>'
            f'<td class="num">{_rate(figures.get("unseen_rate"))}</td></tr>'
        )
    return f"""
<section id="drift"><h2>Drift per column</h2>
<p>The latest {summary["window_rows"]} scored rows against the {summary["training_rows"]}
training rows (PSI over the training deciles or categories; &lt; 0.1 stable, &gt; 0.25 major).</p>
<table class="grid-table"><thead><tr><th>column</th><th>PSI</th><th>reading</th>
<th>missing</th><th>out of range</th><th>unseen</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
</section>"""


def live_sections(live: Live) -> str:
    return shadow_section(live) + drift_section(live)
