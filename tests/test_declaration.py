"""The data-set declaration: the default loads; every error names the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tabship.training.declaration import (
    DEFAULT_DECLARATION,
    Declaration,
    DeclarationError,
    load_declaration,
)

MINIMAL = """
[dataset]
name = "tiny"
target = "y"

[[columns]]
name = "a"
kind = "numeric"
min = 0

[[columns]]
name = "b"
kind = "numeric"

[[columns]]
name = "c"
kind = "categorical"
"""


def _write(tmp_path: Path, text: str, name: str = "decl.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path: Path, text: str) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(DeclarationError) as caught:
        load_declaration(path)
    message = str(caught.value)
    assert str(path) in message, message
    return message


def test_default_declaration_loads(declaration: Declaration) -> None:
    assert declaration.path == DEFAULT_DECLARATION
    assert declaration.name == "shoppers"
    assert declaration.target == "Revenue"
    assert declaration.default_table == "sessions"
    assert len(declaration.numeric_columns) == 10
    assert declaration.categorical_columns == [
        "Month",
        "OperatingSystems",
        "Browser",
        "Region",
        "TrafficType",
        "VisitorType",
        "Weekend",
    ]
    assert set(declaration.variants) == {"full", "no_pagevalues"}
    assert declaration.column("BounceRates").minimum == 0.0
    assert declaration.column("BounceRates").maximum == 1.0
    assert declaration.column("Browser").integer_codes
    assert declaration.column("VisitorType").aliases["returning visitor"] == "returning_visitor"
    assert load_declaration(None) == declaration
    assert len(declaration.sha256) == 64


def test_default_declaration_cleaning_rules_are_described(declaration: Declaration) -> None:
    rules = declaration.column("ExitRates").cleaning_rules()
    assert "values below 0 become missing" in rules
    assert "values above 1 become missing" in rules
    assert any("integer codes" in r for r in declaration.column("Region").cleaning_rules())
    assert any("aliases" in r for r in declaration.column("Weekend").cleaning_rules())


def test_no_pagevalues_variant_drops_the_column_and_its_features(
    declaration: Declaration,
) -> None:
    full = declaration.for_variant("full")
    variant = declaration.for_variant("no_pagevalues")
    assert "PageValues" in full.raw_columns
    assert "PageValues" not in variant.raw_columns
    assert len(variant.raw_columns) == len(declaration.raw_columns) - 1
    dropped = {f.name for f in declaration.features} - {f.name for f in variant.features}
    assert dropped == {f.name for f in declaration.features if "PageValues" in f.inputs}
    assert "PageValues_positive" in dropped
    assert len(dropped) >= 2
    assert all("PageValues" not in f.inputs for f in variant.features)
    assert variant.variants == {"no_pagevalues": ("PageValues",)}
    assert full.features == declaration.features


def test_unknown_variant(declaration: Declaration) -> None:
    with pytest.raises(DeclarationError, match="unknown variant 'nope'") as caught:
        declaration.for_variant("nope")
    assert str(declaration.path) in str(caught.value)


def test_minimal_declaration_defaults(tmp_path: Path) -> None:
    declared = load_declaration(_write(tmp_path, MINIMAL))
    assert declared.variants == {"full": ()}
    assert declared.positive_values == ("true", "1", "yes")
    assert declared.features == ()
    assert declared.column("c").kind == "categorical"
    assert declared.column("a").nullable


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(DeclarationError, match="not found") as caught:
        load_declaration(path)
    assert str(path) in str(caught.value)


def test_bad_toml(tmp_path: Path) -> None:
    assert "not valid TOML" in _error(tmp_path, "[dataset\nname = ")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(MINIMAL.replace("tiny", "t\xe9").encode("latin-1"))
    with pytest.raises(DeclarationError, match="cannot read") as caught:
        load_declaration(path)
    assert str(path) in str(caught.value)


def test_missing_dataset_table(tmp_path: Path) -> None:
    assert "[dataset]: missing table" in _error(tmp_path, MINIMAL.replace("[dataset]", "[data]"))


def test_missing_target(tmp_path: Path) -> None:
    message = _error(tmp_path, MINIMAL.replace('target = "y"', ""))
    assert "dataset.target" in message


@pytest.mark.parametrize("kind", ["number", "Numeric", "", "text"])
def test_bad_column_kind(tmp_path: Path, kind: str) -> None:
    message = _error(tmp_path, MINIMAL.replace('kind = "categorical"', f'kind = "{kind}"'))
    assert "columns[2].kind" in message
    assert repr(kind) in message


def test_duplicate_column(tmp_path: Path) -> None:
    message = _error(tmp_path, MINIMAL + '\n[[columns]]\nname = "a"\nkind = "numeric"\n')
    assert "columns[3].name" in message
    assert "duplicate column 'a'" in message


def test_no_columns(tmp_path: Path) -> None:
    assert "[[columns]]" in _error(tmp_path, '[dataset]\nname = "t"\ntarget = "y"\n')


def test_target_declared_as_column(tmp_path: Path) -> None:
    message = _error(tmp_path, MINIMAL.replace('target = "y"', 'target = "a"'))
    assert "dataset.target" in message


def test_unknown_column_key(tmp_path: Path) -> None:
    message = _error(tmp_path, MINIMAL.replace("min = 0", "min = 0\naliases = {}"))
    assert "columns[0]" in message
    assert "aliases" in message


def test_bad_bound(tmp_path: Path) -> None:
    message = _error(tmp_path, MINIMAL.replace("min = 0", 'min = "zero"'))
    assert "columns[0].min" in message


def test_unknown_feature_input(tmp_path: Path) -> None:
    text = MINIMAL + '\n[[features]]\nname = "r"\nkind = "ratio"\ninputs = ["a", "zz"]\n'
    message = _error(tmp_path, text)
    assert "features[0].inputs" in message
    assert "'zz'" in message


def test_feature_input_of_wrong_kind(tmp_path: Path) -> None:
    text = MINIMAL + '\n[[features]]\nname = "l"\nkind = "log1p"\ninputs = ["c"]\n'
    assert "'c' is not a declared numeric column" in _error(tmp_path, text)


def test_bad_feature_kind(tmp_path: Path) -> None:
    text = MINIMAL + '\n[[features]]\nname = "p"\nkind = "product"\ninputs = ["a", "b"]\n'
    message = _error(tmp_path, text)
    assert "features[0].kind" in message
    assert "'product'" in message


def test_feature_arity(tmp_path: Path) -> None:
    text = MINIMAL + '\n[[features]]\nname = "r"\nkind = "ratio"\ninputs = ["a"]\n'
    assert "takes 2 input(s)" in _error(tmp_path, text)


def test_feature_name_clashes_with_column(tmp_path: Path) -> None:
    text = MINIMAL + '\n[[features]]\nname = "a"\nkind = "log1p"\ninputs = ["b"]\n'
    assert "features[0].name" in _error(tmp_path, text)


def test_unknown_variant_exclude_column(tmp_path: Path) -> None:
    text = MINIMAL + '\n[variants.small]\nexclude = ["a", "nope"]\n'
    message = _error(tmp_path, text)
    assert "variants.small.exclude" in message
    assert "nope" in message


def test_variant_excluding_every_column(tmp_path: Path) -> None:
    text = MINIMAL + '\n[variants.none]\nexclude = ["a", "b", "c"]\n'
    assert "excludes every column" in _error(tmp_path, text)


def test_variant_drops_features_using_excluded_columns(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + '\n[[features]]\nname = "r"\nkind = "ratio"\ninputs = ["a", "b"]\n'
        + '\n[[features]]\nname = "l"\nkind = "log1p"\ninputs = ["a"]\n'
        + '\n[variants.no_b]\nexclude = ["b"]\n'
    )
    variant = load_declaration(_write(tmp_path, text)).for_variant("no_b")
    assert variant.raw_columns == ["a", "c"]
    assert [f.name for f in variant.features] == ["l"]


def test_category_number_needs_mapping(tmp_path: Path) -> None:
    text = MINIMAL + '\n[[features]]\nname = "n"\nkind = "category_number"\ninputs = ["c"]\n'
    assert "features[0].mapping" in _error(tmp_path, text)


def test_target_values_are_normalised(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        'target = "y"', 'target = "y"\npositive_values = [" YES "]\nnegative_values = ["No"]'
    )
    declared = load_declaration(_write(tmp_path, text))
    assert declared.positive_values == ("yes",)
    assert declared.negative_values == ("no",)


def test_loans_declaration_in_tests_data_loads() -> None:
    declared = load_declaration(Path(__file__).parent / "data" / "loans.toml")
    assert declared.numeric_columns
    assert declared.categorical_columns
    assert declared.positive_values == ("yes",)
