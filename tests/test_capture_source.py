"""`tabship train --data CAPTURE_FOLDER [--labels FILE]`: a capture folder written by the
server's own Parquet code reads back as the raw columns plus the joined target."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabship.contract.target import BinaryTarget
from tabship.runtime.batch import capture_parquet as cp
from tabship.training.data_sources import DataSourceError, load_table


def capture_folder(folder: Path) -> None:
    folder.mkdir()
    schema = cp.capture_schema([("income", True), ("purpose", False)], BinaryTarget(0.5))
    file = cp.CaptureFile(schema)
    file.append(
        {
            "income": np.array([1000.0, np.nan, 3000.0]),
            "purpose": np.array(["car", "", "home"], dtype=object),
            cp.PROBABILITY: np.array([0.1, 0.5, 0.9]),
            cp.LABEL: np.array([0, 1, 1]),
            cp.MODEL: np.array(["loans-full"] * 3, dtype=object),
            cp.VERSION: np.array(["v1"] * 3, dtype=object),
            cp.TIME: np.array([1.7e9] * 3),
            cp.REQUEST_ID: np.array(["a", "a", "b"], dtype=object),
            cp.ROW: np.array([0, 1, 0], dtype=np.int32),
        }
    )
    (folder / "capture-1.parquet").write_bytes(file.finish())
    (folder / "_tabship_capture.json").write_text(json.dumps({"format": "tabship-capture-1"}))


def test_capture_folder_with_labels_reads_as_training_rows(tmp_path: Path) -> None:
    folder = tmp_path / "capture"
    capture_folder(folder)
    labels = tmp_path / "labels.csv"
    pd.DataFrame(
        {"request_id": ["a", "a", "b"], "row": [0, 1, 0], "defaulted": ["no", "yes", "yes"]}
    ).to_csv(labels, index=False)
    frame = load_table(folder, labels=str(labels))
    assert list(frame.columns) == ["income", "purpose", "defaulted"]
    assert frame["defaulted"].tolist() == ["no", "yes", "yes"]
    assert frame["purpose"].tolist()[0] == "car"
    assert pd.isna(frame["income"].tolist()[1])
    assert pd.isna(frame["purpose"].tolist()[1])  # blank text captured as missing
    # a request-level label (no row column) for single-row requests; unlabelled rows dropped
    pd.DataFrame({"request_id": ["b"], "defaulted": ["yes"]}).to_csv(labels, index=False)
    assert len(load_table(folder, labels=str(labels))) == 1
    # without labels: the capture's own columns are dropped, the inputs stay
    assert list(load_table(folder).columns) == ["income", "purpose"]


def test_capture_label_errors_are_named(tmp_path: Path) -> None:
    folder = tmp_path / "capture"
    capture_folder(folder)
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"id": ["a"], "defaulted": ["no"]}).to_csv(labels, index=False)
    with pytest.raises(DataSourceError, match="request_id"):
        load_table(folder, labels=str(labels))
    pd.DataFrame({"request_id": ["zzz"], "defaulted": ["no"]}).to_csv(labels, index=False)
    with pytest.raises(DataSourceError, match="no captured row has a label"):
        load_table(folder, labels=str(labels))
    plain = tmp_path / "plain.csv"
    plain.write_text("a\n1\n")
    with pytest.raises(DataSourceError, match="capture folder only"):
        load_table(plain, labels=str(labels))
