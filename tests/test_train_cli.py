"""`tabship train`: a new table trains and exports from its declaration alone; bad input fails
with a message naming the file, table or column, a non-zero exit and no traceback."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest

from tabship.cli.main import main
from tabship.contract.values import category_text, number_value
from tabship.export.registry import Registry
from tabship.training import evidence

LOANS = Path(__file__).resolve().parent / "data" / "loans.toml"
REPO = Path(__file__).resolve().parents[1]


def loans_frame(n_rows: int = 400, seed: int = 5) -> pd.DataFrame:
    """A small, dirty loans table written as text, as a CSV extract would be."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10.5, 0.5, n_rows).round(2)
    amount = rng.lognormal(9.0, 0.7, n_rows).round(2)
    age = rng.integers(18, 80, n_rows)
    purpose = rng.choice(["car", "home_improvement", "education", "other"], n_rows)
    branch = rng.integers(1, 6, n_rows)
    logit = 3.0 * amount / income - 1.5 + (purpose == "education") * 0.8 - 0.02 * (age - 40)
    defaulted = rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logit))
    frame = pd.DataFrame(
        {
            "income": income.astype(str),
            "loan_amount": amount.astype(str),
            "age": age.astype(str),
            "purpose": purpose,
            "branch": branch.astype(str),
            "defaulted": np.where(defaulted, "yes", "no"),
        },
        dtype=object,
    )
    # dirt: spellings, codes, text numbers, impossible values, missing cells, duplicates
    frame.loc[::7, "purpose"] = frame.loc[::7, "purpose"].str.upper().str.replace("_", " ")
    frame.loc[::11, "branch"] = frame.loc[::11, "branch"] + ".0"
    frame.loc[::13, "income"] = " " + frame.loc[::13, "income"] + " "
    frame.loc[5::17, "age"] = "-3"
    frame.loc[3::19, "loan_amount"] = "n/a"
    frame.loc[4::23, "purpose"] = None
    frame.loc[6::29, "defaulted"] = " Yes "
    frame.loc[8::31, "defaulted"] = None
    return pd.concat([frame, frame.iloc[:6]], ignore_index=True)


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_second_declaration_trains_and_exports_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = loans_frame()
    data = write_csv(frame, tmp_path / "loans.csv")
    registry_root = tmp_path / "registry"
    code = main(
        [
            "train",
            "--data",
            str(data),
            "--declaration",
            str(LOANS),
            "--registry",
            str(registry_root),
            "--search-iterations",
            "1",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "406 rows" in out.out
    assert "6 duplicates" in out.out

    registry = Registry(registry_root)
    assert registry.models() == ["loans-full"]
    version = registry.latest("loans-full")
    assert str(version) in out.out
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["dataset"]["name"] == "loans"
    assert manifest["dataset"]["target"] == "defaulted"
    assert manifest["data"]["rows"]["raw"] == 406
    assert [i["name"] for i in manifest["inputs"]] == [
        "income",
        "loan_amount",
        "age",
        "purpose",
        "branch",
    ]
    purpose = next(i for i in manifest["inputs"] if i["name"] == "purpose")
    assert purpose["categories"] == ["car", "education", "home_improvement", "other"]
    branch = next(i for i in manifest["inputs"] if i["name"] == "branch")
    assert branch["categories"] == ["1", "2", "3", "4", "5"]
    assert (version / "report").is_dir()

    model = onnx.load(version / "model.onnx")
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(str(version / "model.onnx"), providers=["CPUExecutionProvider"])
    rows = frame.iloc[:50]
    feeds = {
        "income": np.array([number_value(v) for v in rows["income"]]).reshape(-1, 1),
        "loan_amount": np.array([number_value(v) for v in rows["loan_amount"]]).reshape(-1, 1),
        "age": np.array([number_value(v) for v in rows["age"]]).reshape(-1, 1),
        "purpose": np.array([category_text(v) for v in rows["purpose"]], object).reshape(-1, 1),
        "branch": np.array([category_text(v) for v in rows["branch"]], object).reshape(-1, 1),
    }
    _, probabilities, _ = session.run(None, feeds)

    reference = evidence.read(version).pipeline
    expected = reference.predict_proba(rows.drop(columns="defaulted"))
    assert np.abs(probabilities - expected).max() <= 1e-6


# ------------------------------------------------------------------------------------------
# errors: clear message on stderr, exit 2, no traceback (a real subprocess)
# ------------------------------------------------------------------------------------------


def _sqlite(path: Path, frame: pd.DataFrame, table: str) -> Path:
    with sqlite3.connect(path) as connection:
        frame.to_sql(table, connection, index=False)
    connection.close()
    return path


ERROR_CASES = ["missing", "unreadable-csv", "not-sqlite", "missing-column", "empty-csv",
               "empty-table", "one-class", "bad-target", "missing-declaration", "unknown-table",
               "unsupported-kind"]  # fmt: skip


def error_case(tmp_path: Path, case: str) -> tuple[list[str], list[str]]:
    """The command-line arguments of a failing run, and what its message must contain."""
    frame = loans_frame(60)
    declaration = str(LOANS)
    extra: list[str] = []
    if case == "missing":
        data, expected = tmp_path / "absent.csv", ["absent.csv", "no such file"]
    elif case == "unreadable-csv":
        data = tmp_path / "binary.csv"
        data.write_bytes(b"income,age\n\xff\xfe\x00\x81,\x9c\n")
        expected = ["binary.csv", "cannot read"]
    elif case == "not-sqlite":
        data = tmp_path / "garbage.sqlite"
        data.write_bytes(b"this is not a database" * 100)
        expected = ["garbage.sqlite", "SQLite"]
    elif case == "missing-column":
        data = write_csv(frame.drop(columns="loan_amount"), tmp_path / "short.csv")
        expected = ["short.csv", "'loan_amount'", "loans.toml"]
    elif case == "empty-csv":
        data = write_csv(frame.iloc[:0], tmp_path / "header_only.csv")
        expected = ["header_only.csv", "no rows"]
    elif case == "empty-table":
        data = _sqlite(tmp_path / "loans.sqlite", frame.iloc[:0], "applications")
        extra, expected = ["--table", "applications"], ["loans.sqlite", "applications", "no rows"]
    elif case == "one-class":
        data = write_csv(frame.assign(defaulted="no"), tmp_path / "one_class.csv")
        expected = ["one_class.csv", "'defaulted'", "one class"]
    elif case == "bad-target":
        bad = frame.copy()
        bad.loc[3, "defaulted"] = "maybe"
        data = write_csv(bad, tmp_path / "bad_target.csv")
        expected = ["bad_target.csv", "'defaulted'", "'maybe'"]
    elif case == "missing-declaration":
        data = write_csv(frame, tmp_path / "fine.csv")
        declaration = str(tmp_path / "nowhere.toml")
        expected = ["nowhere.toml", "not found"]
    elif case == "unknown-table":
        data = _sqlite(tmp_path / "loans.sqlite", frame, "applications")
        extra, expected = ["--table", "loans"], ["loans.sqlite", "'loans'", "applications"]
    else:
        data = write_csv(frame, tmp_path / "loans.xlsx")
        expected = ["loans.xlsx", "unsupported"]
    args = ["--data", str(data), "--declaration", declaration, "--registry", str(tmp_path / "r")]
    return [*args, *extra], expected


@pytest.mark.parametrize("case", ERROR_CASES)
def test_cli_errors_name_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    args, expected = error_case(tmp_path, case)
    code = main(["train", *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("tabship train: "), err
    for text in expected:
        assert text in err, err
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_cli_errors_in_a_real_process_have_no_traceback(tmp_path: Path) -> None:
    cases = ["missing", "unreadable-csv", "missing-column", "empty-csv", "one-class"]
    running = []
    for case in cases:
        folder = tmp_path / case
        folder.mkdir()
        args, expected = error_case(folder, case)
        process = subprocess.Popen(
            [sys.executable, "-m", "tabship.cli.main", "train", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        running.append((process, expected))
    for process, expected in running:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 2, err
        assert "Traceback" not in err
        assert err.startswith("tabship train: "), err
        for text in expected:
            assert text in err, err


def test_bad_threshold_rule_fails_before_any_work(capsys: pytest.CaptureFixture[str]) -> None:
    from tabship.cli.main import main

    assert main(["train", "--threshold-rule", "bogus", "--data", "/nonexistent.csv"]) == 2
    assert "--threshold-rule" in capsys.readouterr().err
