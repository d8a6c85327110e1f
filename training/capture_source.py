"""A request-capture folder (runtime/live/capture.py) as training data: its Parquet files,
the labels the user joined (in the files, or from `--labels FILE` matched on the request id and
row number the server recorded, X-Request-Id being the client's handle), and the capture's own
`_tabship_*` columns (answer, model, time, ids) dropped so that only the raw inputs and the
target remain."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

MARKER = "_tabship_capture.json"  # written by the server into every capture folder
META_PREFIX = "_tabship_"
REQUEST_ID, ROW = "_tabship_request_id", "_tabship_row"
LABEL_KEYS = ("request_id", "row")


class CaptureSourceError(ValueError):
    pass


def is_capture(path: Path) -> bool:
    return path.is_dir() and (path / MARKER).is_file()


def join_labels(captured: pd.DataFrame, labels: pd.DataFrame, shown: str) -> pd.DataFrame:
    """Captured rows with the labels' other columns, matched on request_id (and row, when the
    labels have it); rows without a label are left out."""
    if "request_id" not in labels.columns:
        raise CaptureSourceError(
            f"{shown}: the labels need a request_id column (the X-Request-Id of each capture)"
        )
    keys = [k for k in LABEL_KEYS if k in labels.columns]
    right = labels.rename(columns={"request_id": REQUEST_ID, "row": ROW})
    right[REQUEST_ID] = right[REQUEST_ID].astype(str)
    if ROW in right.columns:
        right[ROW] = pd.to_numeric(right[ROW], errors="raise").astype("int32")
    on = [REQUEST_ID, ROW][: len(keys)]
    if right.duplicated(on).any():
        raise CaptureSourceError(f"{shown}: the labels name a request/row more than once")
    clash = sorted(set(right.columns) - set(on) & set(captured.columns))
    if clash:
        raise CaptureSourceError(f"{shown}: label columns {clash} are also captured columns")
    return captured.merge(right, on=on, how="inner", validate="many_to_one")


def without_meta(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[c for c in frame.columns if not str(c).startswith(META_PREFIX)]]
