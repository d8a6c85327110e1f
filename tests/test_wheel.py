"""The built wheel holds one top-level name, tabship (and its dist-info): nothing that could
overwrite another distribution's `runtime`, `export` or `training` in site-packages."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def test_the_wheel_holds_only_tabship(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), "."],
        cwd=REPO,
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("tabship-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"tabship", wheel.name.split("-py3")[0] + ".dist-info"}, sorted(top)
    # the user's folders are in it under the one name, with their data files and the type marker
    for expected in (
        "tabship/py.typed",
        "tabship/runtime/rest/app.py",
        "tabship/export/convert.py",
        "tabship/training/declarations/online_shoppers.toml",
        "tabship/parity_tests/gate.py",
        "tabship/runtime/page/assets/page.js",
        "tabship/contract/manifest.schema.json",
    ):
        assert expected in names, expected
