"""Generated rows (hypothesis) inside and beyond the observed ranges, compared batch by batch."""

from __future__ import annotations

from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parity_tests.compare import SetResult, compare


def _numeric(spec: dict[str, Any]) -> st.SearchStrategy[Any]:
    observed = spec.get("range") or {}
    low, high = observed.get("min"), observed.get("max")
    inside = st.floats(min_value=low, max_value=high) if low is not None else st.floats(0, 1)
    beyond = st.floats(allow_nan=True, allow_infinity=True)
    return st.one_of(
        inside,
        inside,  # weighted: most generated values are plausible ones
        beyond,
        st.none(),
        inside.map(repr),  # numbers sent as text
        st.sampled_from(["", "n/a", " 1e3 ", "-0"]),
    )


def _spellings(label: str) -> st.SearchStrategy[str]:
    return st.tuples(
        st.sampled_from(["", " ", "\t", "  "]),
        st.sampled_from([label, label.upper(), label.title(), label.swapcase()]),
        st.sampled_from(["", " ", "\n"]),
    ).map("".join)


def _categorical(spec: dict[str, Any]) -> st.SearchStrategy[Any]:
    labels = spec.get("categories") or ["x"]
    options = [
        st.sampled_from(labels).flatmap(_spellings),
        st.sampled_from(labels),
        st.none(),
        st.text(max_size=12),
    ]
    if spec.get("aliases"):
        options.append(st.sampled_from(sorted(spec["aliases"])).flatmap(_spellings))
    if spec.get("integer_codes"):
        options += [
            st.integers(-2, 40),
            st.floats(-2, 40),
            st.integers(0, 40).map(lambda i: f"{i}.0"),
        ]
    return st.one_of(options)


def generated_result(
    pipeline: Any,
    session: Any,
    inputs: list[dict[str, Any]],
    threshold: float,
    *,
    examples: int,
    rows_per_example: int = 50,
) -> SetResult:
    columns = [spec["name"] for spec in inputs]
    row = st.fixed_dictionaries(
        {s["name"]: _numeric(s) if s["kind"] == "numeric" else _categorical(s) for s in inputs}
    )
    worst: dict[str, Any] = {"rows": 0, "max": 0.0, "flips": 0, "threshold_flips": 0}

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(st.lists(row, min_size=rows_per_example, max_size=rows_per_example))
    def check(rows: list[dict[str, Any]]) -> None:
        result, _ = compare(
            "generated", pipeline, session, pd.DataFrame(rows, columns=columns), threshold
        )
        worst["rows"] += result.rows
        worst["max"] = max(worst["max"], result.max_abs_dp)
        worst["flips"] += result.flips
        worst["threshold_flips"] += result.threshold_flips

    # A failure is not raised: the gate reports it with the other sets' figures.
    check()
    return SetResult(
        name="generated",
        rows=worst["rows"],
        max_abs_dp=worst["max"],
        flips=worst["flips"],
        threshold_flips=worst["threshold_flips"],
        worst_row=None,
    )
