"""Property-based fuzzing of a live server from its own /openapi.json (schemathesis, all checks).

Two protocol facts are configured rather than hidden: a request the schema flags as invalid may
be refused with 413 (too many rows) or 415, which schemathesis does not count as a rejection by
default; and an Open Inference Protocol request can satisfy the JSON Schema yet break the
protocol's cross-field rules (every input present, one N for all inputs, data length = shape),
which JSON Schema cannot express, so 400/413 are accepted answers to "valid" OIP requests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import NAME, VERSION_A, Server

pytestmark = [pytest.mark.server, pytest.mark.slow]

CONFIG = f"""
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "406", "413", "415", "422", "428"]

[parameters]
"path.name" = "{NAME}"
"path.version" = "{VERSION_A}"

[[operations]]
include-path-regex = "^/v2/models/.*/infer$"
checks.positive_data_acceptance.expected-statuses = ["200", "400", "413"]
"""


def test_schemathesis_finds_nothing(server: Server, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(config),
        "run",
        f"{server.url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        "25",
        "--seed",
        "20261126",
        "--no-color",
        "--request-timeout",
        "20",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
    assert "Traceback" not in server.log, server.log[-5000:]
    assert "unexpected error" not in server.log
