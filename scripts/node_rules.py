"""Writes clients/node/src/rules.js from tabship/contract/: the Node consumer's copy of the acceptance
rules, reasons (with their codes), limits and manifest vocabulary, generated, never hand-kept.

    .venv/bin/python scripts/node_rules.py          # rewrite the file
    .venv/bin/python scripts/node_rules.py --check  # exit 1 when the committed file differs

tests/test_node_rules.py runs the check.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tabship.contract import (  # noqa: E402
    manifest,
    rules,
)

TARGET = REPO / "clients" / "node" / "src" / "rules.js"


def _js(value: object) -> str:
    return json.dumps(value, ensure_ascii=True, indent=2 if isinstance(value, dict) else None)


def render() -> str:
    constants = {
        "NUMERIC_TEXT": (
            "Numeric text a feeder accepts (a RegExp source, full match).",
            rules.NUMERIC_TEXT,
        ),
        "BLANK_TEXT": ("Blank text: ASCII whitespace only, a missing value.", rules.BLANK_TEXT),
        "MAX_TEXT_LENGTH": (
            "max_length of a categorical input whose manifest names none.",
            rules.MAX_TEXT_LENGTH,
        ),
        "SHOWN_CHARACTERS": (
            "How many characters of a refused text a reason quotes.",
            rules.SHOWN_CHARACTERS,
        ),
        "REASONS": (
            "Reason code -> reason ({name} placeholders), the server's words.",
            rules.REASONS,
        ),
        "MANIFEST_KEY": (
            "metadata_props key of the manifest embedded in the graph.",
            manifest.METADATA_KEY,
        ),
        "KIND_ONNX_TYPES": (
            "A manifest input's kind -> its graph input's ONNX type.",
            manifest.KIND_ONNX_TYPES,
        ),
        "OUTPUT_TYPES": (
            "The graph's outputs, in the manifest's order -> ONNX type.",
            manifest.OUTPUT_TYPES,
        ),
    }
    lines = [
        "// @ts-check",
        "// Generated from tabship/contract/ by scripts/node_rules.py: do not edit by hand.",
        "// tests/test_node_rules.py fails when this file and tabship/contract/ differ.",
        "",
    ]
    for name, (doc, value) in constants.items():
        frozen = f"Object.freeze({_js(value)})" if isinstance(value, dict) else _js(value)
        lines += [f"/** {doc} */", f"export const {name} = {frozen};", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if TARGET.read_text(encoding="utf-8") != text:
            print(
                f"{TARGET} differs from tabship/contract/: run scripts/node_rules.py",
                file=sys.stderr,
            )
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
