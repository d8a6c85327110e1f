"""`tabship declare`: a declaration inferred from a table, which `tabship load_declaration`
accepts as is, and clear errors for what the data cannot tell."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd
import pytest
from awkward_table import awkward_frame, write_awkward_csv

from tabship.cli.main import main
from tabship.training.declaration import load_declaration
from tabship.training.default_data import DEFAULT_TABLE, ensure_default_database


def _declare(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["declare", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_built_in_data_declares_the_shipped_kinds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = ensure_default_database()
    code, out, err = _declare(capsys, str(database), "--table", DEFAULT_TABLE, "--name", "shoppers")
    assert code == 0, err
    (tmp_path / "inferred.toml").write_text(out)
    inferred = load_declaration(tmp_path / "inferred.toml")
    shipped = load_declaration()
    assert inferred.target == shipped.target == "Revenue"
    assert set(inferred.positive_values) <= set(shipped.positive_values)
    assert set(inferred.negative_values) <= set(shipped.negative_values)
    assert inferred.default_table == DEFAULT_TABLE
    kinds = {c.name: (c.kind, c.integer_codes) for c in inferred.columns}
    assert kinds == {c.name: (c.kind, c.integer_codes) for c in shipped.columns}
    # What the data cannot prove is offered as a comment, not applied.
    assert 'aliases = { "june" = "jun", "sept" = "sep" }' in out
    assert '"returning visitor" = "returning_visitor"' in out
    assert "if they stand for missing, add min = 0" in out


def test_awkward_csv_declares_names_kinds_and_skips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "shop export.csv"
    write_awkward_csv(csv, awkward_frame())
    code, out, err = _declare(capsys, str(csv), "--csv-delimiter", ";", "--decimal", ",")
    assert code == 0, err
    raw = tomllib.loads(out)
    assert raw["dataset"] == {
        "name": "shop-export",
        "target": "Bought?",
        "positive_values": ["yes"],
        "negative_values": ["no"],
    }
    columns = {c["name"]: c for c in raw["columns"]}
    assert list(columns) == [
        "visit count",
        "page.value",
        "größe €",
        "2nd_browser",
        "Visitor Type",
        "is_mobile",
        "single",
    ]
    assert columns["page.value"]["kind"] == "numeric"  # decimal commas parsed
    assert columns["2nd_browser"] == {
        "name": "2nd_browser",
        "kind": "categorical",
        "integer_codes": True,
    }
    assert columns["is_mobile"]["kind"] == "categorical"
    assert columns["is_mobile"]["aliases"]["yes"] == "true"
    # An id, a date and a column with no values are written commented out, with the reason.
    assert "a different value in every row: looks like an id\n# not declared" in out
    assert '# name = "id"' in out
    assert "dates or times" in out
    assert '# name = "signup date"' in out
    assert "no value in any of 600 rows" in out
    assert '# name = "always empty"' in out
    assert "a single label" in out


def test_declare_output_is_never_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "t.csv"
    pd.DataFrame({"x": [1.5, 2.5, 3.5, 4.5], "y": [1, 0, 1, 0]}).to_csv(data, index=False)
    out = tmp_path / "t.toml"
    assert _declare(capsys, str(data), "-o", str(out))[0] == 0
    first = out.read_text()
    out.write_text("# mine\n")
    code, _, err = _declare(capsys, str(data), "-o", str(out))
    assert code == 2
    assert "exists; not overwritten" in err
    assert out.read_text() == "# mine\n"
    assert "[[columns]]" in first
    assert not list(tmp_path.glob(".t.toml.*"))  # no temporary left behind


@pytest.mark.parametrize(
    ("frame", "args", "message"),
    [
        (
            pd.DataFrame({"x": [1.0, 2.0, 3.0], "species": ["a", "b", "c"]}),
            ["--target", "species"],
            "3 distinct values",
        ),
        (
            pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["cat", "dog", "cat"]}),
            ["--target", "y"],
            "say which one is positive with --positive",
        ),
        (
            pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["cat", "dog", "cat"]}),
            ["--target", "y", "--positive", "bird"],
            "--positive 'bird' is not a value of target column 'y'",
        ),
        (
            pd.DataFrame({"x": [1.0, 2.0], "y": [1, 0]}),
            ["--target", "z"],
            "--target 'z' is not a column",
        ),
        (
            pd.DataFrame({"y": [1, 0, 1], "x": [1.0, 2.0, 3.0]}),
            [],
            "name the target column with --target; two-valued columns: ['y']",
        ),
        (
            pd.DataFrame({"x": [1.0, 2.0], "y": [1, 1]}),
            ["--target", "y"],
            "a binary target needs two",
        ),
        (
            pd.DataFrame({"x": [1.0, 2.0], "y": [1, 0]}),
            ["--name", "My Data"],
            "--name 'My Data': use lower-case letters",
        ),
        (
            pd.DataFrame({"x": [1.0, 2.0], "y": [1, 0]}),
            ["--decimal", ","],
            "--decimal ',' is also the field separator",
        ),
    ],
)
def test_what_cannot_be_inferred_is_a_clear_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    frame: pd.DataFrame,
    args: list[str],
    message: str,
) -> None:
    data = tmp_path / "t.csv"
    frame.to_csv(data, index=False)
    code, out, err = _declare(capsys, str(data), *args)
    assert code == 2
    assert out == ""
    assert message in err
    assert "Traceback" not in err


def test_the_positive_value_is_chosen_with_positive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "t.parquet"
    pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["cat", "dog", "cat"]}).to_parquet(data)
    code, out, err = _declare(capsys, str(data), "--target", "y", "--positive", "Dog")
    assert code == 0, err
    raw = tomllib.loads(out)["dataset"]
    assert (raw["positive_values"], raw["negative_values"]) == (["dog"], ["cat"])


def test_awkward_names_and_labels_stay_valid_toml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ['quote"d', "back\\slash", "tab\tname", "line\nbreak", "[x].y", "ünï ☃"]
    frame = pd.DataFrame({n: [f"v{i % 3}\n#" for i in range(30)] for n in names})
    frame["target"] = [i % 2 for i in range(30)]
    data = tmp_path / "odd.parquet"
    frame.to_parquet(data)
    code, out, err = _declare(capsys, str(data))
    assert code == 0, err
    raw = tomllib.loads(out)
    assert [c["name"] for c in raw["columns"]] == names


def test_output_names_cannot_be_column_names(tmp_path: Path) -> None:
    from tabship.export.convert import OUTPUTS
    from tabship.training.declaration import OUTPUT_NAMES, DeclarationError

    assert set(OUTPUT_NAMES) == {o["name"] for o in OUTPUTS}
    toml = tmp_path / "d.toml"
    toml.write_text(
        '[dataset]\nname = "d"\ntarget = "y"\n[[columns]]\nname = "label"\nkind = "numeric"\n'
    )
    with pytest.raises(DeclarationError, match=r"\['label'\]: these names are the model's outputs"):
        load_declaration(toml)
