"""A small table written the way real exports are: a ';'-separated CSV with a byte-order mark,
decimal commas, column names with spaces, dots, unicode and leading digits, a boolean column, an
id, a date, a column with no values, a single-level column and a Yes/No target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

USER_COLUMNS = ("visit count", "page.value", "größe €", "2nd_browser", "Visitor Type", "is_mobile")


def awkward_frame(rows: int = 600, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    visits = rng.poisson(4, rows)
    value = np.round(rng.lognormal(1, 1, rows), 3)
    size = np.round(rng.normal(170, 10, rows), 1)
    browser = rng.integers(1, 6, rows)
    visitor = rng.choice(["Returning_Visitor", "New_Visitor", "Other"], rows, p=[0.7, 0.25, 0.05])
    mobile = rng.random(rows) < 0.4
    score = 0.3 * visits + 0.5 * np.log(value) - 0.8 * mobile + (visitor == "New_Visitor")
    bought = score + rng.normal(0, 1, rows) > np.median(score)
    frame = pd.DataFrame(
        {
            "id": [f"S{i:05d}" for i in range(rows)],
            "visit count": visits.astype(float),
            "page.value": value,
            "größe €": size,
            "2nd_browser": browser,
            "Visitor Type": visitor,
            "is_mobile": mobile,
            "signup date": pd.date_range("2024-01-01", periods=rows, freq="D").strftime("%Y-%m-%d"),
            "always empty": [None] * rows,
            "single": ["x"] * rows,
            "Bought?": np.where(bought, "Yes", "No"),
        }
    )
    frame.loc[rng.random(rows) < 0.05, "page.value"] = np.nan
    frame.loc[rng.random(rows) < 0.03, "Visitor Type"] = None
    return frame


def write_awkward_csv(path: Path, frame: pd.DataFrame) -> None:
    """';'-separated, decimal comma, UTF-8 with a byte-order mark, True/False as text."""
    text = frame.to_csv(sep=";", decimal=",", index=False)
    path.write_text(text, encoding="utf-8-sig")
