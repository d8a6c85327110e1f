"""docs/serving.md's settings table is generated from the settings' own field metadata."""

from __future__ import annotations

import importlib.util
from dataclasses import fields
from pathlib import Path

from tabship.runtime.settings import Settings, markdown_table, variable_of

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "settings_table.py"


def _script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("settings_table", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_serving_md_holds_the_generated_table() -> None:
    assert _script().main(["--check"]) == 0, "run: .venv/bin/python scripts/settings_table.py"


def test_the_check_fails_when_the_table_is_edited_by_hand(tmp_path: Path) -> None:
    script = _script()
    doc = tmp_path / "serving.md"
    doc.write_text(script.DOC.read_text().replace("| `1000` |", "| `999` |", 1))
    assert script.main(["--check"], doc) == 1
    assert script.main([], doc) == 0
    assert script.main(["--check"], doc) == 0


def test_every_setting_is_documented_once_with_its_default() -> None:
    table = markdown_table()
    for setting in fields(Settings):
        assert setting.metadata["doc"], setting.name
        assert table.count(f"| `{variable_of(setting.name)}` |") == 1
    assert "| `TABSHIP_MAX_ROWS` | `1000` |" in table
    assert "| `TABSHIP_BATCHING` | `1` |" in table
    assert "| `MODEL_SHA256` | unset |" in table
