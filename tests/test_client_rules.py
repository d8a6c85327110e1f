"""clients/java's Rules.java, clients/go's rules.go and clients/testdata/value_cases.jsonl are
generated from tabship/contract/ (scripts/client_rules.py): a stale copy fails here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "client_rules.py"
sys.path.insert(0, str(SCRIPT.parent))

import client_rules  # noqa: E402


def test_generated_files_match_the_contract() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("target", list(client_rules.TARGETS))
def test_a_stale_file_is_caught(target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    render = client_rules.TARGETS[target]
    monkeypatch.setitem(client_rules.TARGETS, target, lambda: render() + "// changed\n")
    assert client_rules.main(["--check"]) == 1


def test_java_regexes_keep_pythons_vertical_tab() -> None:
    # Java's \v is every vertical white space; the contract's is the vertical tab alone
    assert "\\v" not in client_rules.render_java()
    assert client_rules.java_regex("[ \\v]") == "[ \\x0B]"
