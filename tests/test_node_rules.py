"""clients/node/src/rules.js is generated from tabship/contract/ (scripts/node_rules.py), never edited:
this fails when the committed file and what tabship/contract/ generates differ."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "node_rules.py"


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("node_rules", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_rules_js_is_what_contract_generates() -> None:
    generator = _generator()
    committed = generator.TARGET.read_text(encoding="utf-8")
    assert committed == generator.render(), "run: .venv/bin/python scripts/node_rules.py"


def test_the_check_mode_fails_on_a_stale_file(tmp_path: Path) -> None:
    generator = _generator()
    stale = tmp_path / "rules.js"
    stale.write_text(generator.render().replace("256", "255"), encoding="utf-8")
    generator.TARGET = stale
    assert generator.main(["--check"]) == 1
    stale.write_text(generator.render(), encoding="utf-8")
    assert generator.main(["--check"]) == 0


def test_the_script_runs_from_anywhere() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, cwd="/"
    )
    assert done.returncode == 0, done.stderr
