"""Writes the Java and Go consumers' copies of tabship/contract/ (the acceptance rules, reasons
with their codes, limits and manifest vocabulary), generated, never hand-kept, as
scripts/node_rules.py does for Node:

    clients/java/src/main/java/io/tabship/client/Rules.java
    clients/go/rules.go
    clients/testdata/value_cases.jsonl   raw JSON values and what the Python server feeds or
                                         refuses (code) for each: JUnit and go test read it

    .venv/bin/python scripts/client_rules.py          # rewrite both files
    .venv/bin/python scripts/client_rules.py --check  # exit 1 when a committed file differs

tests/test_client_rules.py runs the check.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tabship.contract import manifest, rules  # noqa: E402

JAVA = (
    REPO / "clients" / "java" / "src" / "main" / "java" / "io" / "tabship" / "client" / "Rules.java"
)
GO = REPO / "clients" / "go" / "rules.go"
HEADER = "Generated from tabship/contract/ by scripts/client_rules.py: do not edit by hand."
CHECKED = "tests/test_client_rules.py fails when this file and tabship/contract/ differ."


def _string(text: str) -> str:
    """A string literal both Java and Go read as `text` (JSON's escapes are a subset of both)."""
    return json.dumps(text, ensure_ascii=True)


def java_regex(pattern: str) -> str:
    # Java's \v is any vertical white space (\n \x0B \f \r \x85 \u2028 \u2029); Python's,
    # Go's and JavaScript's is the vertical tab alone.
    return pattern.replace("\\v", "\\x0B")


def render_java() -> str:
    def pairs(mapping: dict[str, str]) -> str:
        body = ",\n".join(f"            {_string(k)}, {_string(v)}" for k, v in mapping.items())
        return f"ordered(\n{body})"

    constants = [
        (
            "Numeric text a feeder accepts (full match).",
            "String",
            "NUMERIC_TEXT",
            _string(java_regex(rules.NUMERIC_TEXT)),
        ),
        (
            "Blank text: ASCII white space only, a missing value.",
            "String",
            "BLANK_TEXT",
            _string(java_regex(rules.BLANK_TEXT)),
        ),
        (
            "The white space a category is stripped of (Python's str.strip argument).",
            "String",
            "WHITESPACE",
            _string(rules.WHITESPACE),
        ),
        (
            "max_length of a categorical input whose manifest names none.",
            "int",
            "MAX_TEXT_LENGTH",
            str(rules.MAX_TEXT_LENGTH),
        ),
        (
            "How many characters of a refused text a reason quotes.",
            "int",
            "SHOWN_CHARACTERS",
            str(rules.SHOWN_CHARACTERS),
        ),
        (
            "Reason code -> reason ({name} placeholders), the server's words.",
            "Map<String, String>",
            "REASONS",
            pairs(rules.REASONS),
        ),
        (
            "metadata_props key of the manifest embedded in the graph.",
            "String",
            "MANIFEST_KEY",
            _string(manifest.METADATA_KEY),
        ),
        (
            "A manifest input's kind -> its graph input's ONNX type.",
            "Map<String, String>",
            "KIND_ONNX_TYPES",
            pairs(manifest.KIND_ONNX_TYPES),
        ),
        (
            "The graph's outputs, in the manifest's order -> ONNX type.",
            "Map<String, String>",
            "OUTPUT_TYPES",
            pairs(manifest.OUTPUT_TYPES),
        ),
    ]
    lines = [
        f"// {HEADER}",
        f"// {CHECKED}",
        "package io.tabship.client;",
        "",
        "import java.util.Collections;",
        "import java.util.LinkedHashMap;",
        "import java.util.Map;",
        "",
        "final class Rules {",
        "    private Rules() {}",
        "",
    ]
    for doc, kind, name, value in constants:
        lines += [f"    /** {doc} */", f"    static final {kind} {name} = {value};", ""]
    lines += [
        "    private static Map<String, String> ordered(String... keysAndValues) {",
        "        Map<String, String> map = new LinkedHashMap<>();",
        "        for (int i = 0; i < keysAndValues.length; i += 2) {",
        "            map.put(keysAndValues[i], keysAndValues[i + 1]);",
        "        }",
        "        return Collections.unmodifiableMap(map);",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def render_go() -> str:
    def mapping(values: dict[str, str]) -> str:
        width = max(len(_string(k)) for k in values) + 1  # gofmt aligns the values
        body = "".join(
            f"\t{(_string(k) + ':').ljust(width)} {_string(v)},\n" for k, v in values.items()
        )
        return "map[string]string{\n" + body + "}"

    def keys(values: dict[str, str]) -> str:
        return "[]string{" + ", ".join(_string(k) for k in values) + "}"

    constants = [
        (
            "numericText is the numeric text a feeder accepts (full match).",
            "numericText",
            _string(rules.NUMERIC_TEXT),
        ),
        (
            "blankText is blank text: ASCII white space only, a missing value.",
            "blankText",
            _string(rules.BLANK_TEXT),
        ),
        (
            "whitespace is what a category is stripped of (Python's str.strip argument).",
            "whitespace",
            _string(rules.WHITESPACE),
        ),
        (
            "maxTextLength is the max_length of a categorical input whose manifest names none.",
            "maxTextLength",
            str(rules.MAX_TEXT_LENGTH),
        ),
        (
            "shownCharacters is how many characters of a refused text a reason quotes.",
            "shownCharacters",
            str(rules.SHOWN_CHARACTERS),
        ),
        (
            "ManifestKey is the metadata_props key of the manifest embedded in the graph.",
            "ManifestKey",
            _string(manifest.METADATA_KEY),
        ),
    ]
    variables = [
        (
            "Reasons maps a reason code to the server's words ({name} placeholders).",
            "Reasons",
            mapping(rules.REASONS),
        ),
        (
            "kindONNXTypes maps a manifest input's kind to its graph input's ONNX type.",
            "kindONNXTypes",
            mapping(manifest.KIND_ONNX_TYPES),
        ),
        (
            "outputTypes maps the graph's outputs to their ONNX types.",
            "outputTypes",
            mapping(manifest.OUTPUT_TYPES),
        ),
        (
            "outputNames lists the graph's outputs in the manifest's order.",
            "outputNames",
            keys(manifest.OUTPUT_TYPES),
        ),
    ]
    lines = [f"// {HEADER}", f"// {CHECKED}", "", "package tabship", ""]
    for doc, name, value in constants:
        lines += [f"// {doc}", f"const {name} = {value}", ""]
    for doc, name, value in variables:
        lines += [f"// {doc}", f"var {name} = {value}", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


CASES = REPO / "clients" / "testdata" / "value_cases.jsonl"
# JSON texts: numbers as Python's json reads them (1E400 is a float infinity), text with the
# escapes a client may send (a lone surrogate, NUL, Unicode white space and digits).
CASE_VALUES = [
    *"null true false 0 -0 2 2.0 -1.5 1e2 1E400 -1e400 1e16 1e22 1e-07 0.1 2.5".split(),
    *"0.0001 1e-05 123456.789 5e-324 1.7976931348623157e308 9007199254740993".split(),
    *"123456789012345678901234567890 [] {} [1]".split(),
    *(json.dumps(text) for text in ["", "   ", "\t", "\v", "\u2028", "\u00a0", " 3.5 ", ".5"]),
    *(json.dumps(text) for text in ["1e3", "-0", "+7.", "1_000", "nan", "inf", "0x10"]),
    *(json.dumps(text) for text in ["\u0661\u0662", "1e400", "Nov", " nov ", "a\x00b"]),
    *(json.dumps(text) for text in ["x" * 11, "\U0001f600" * 10, "O'Neil", "\u00e9t\u00e9"]),
    '"\\ud800"',
    '"\\ud83d\\ude00"',
]


def _random_doubles(count: int) -> list[str]:
    """Finite doubles from fixed bit patterns: the shortest-repr corner cases come for free."""
    import random
    import struct

    rng = random.Random(20261207)
    texts = []
    while len(texts) < count:
        value = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if value == value and abs(value) != float("inf"):
            texts.append(repr(value))
    return texts


# Inputs of a user's own pipeline with the rules its fitted steps dictate (manifest domain,
# unknown, values, categories): every case value through each, the codes outside_domain and
# unknown_category included.
RULE_INPUTS: list[dict[str, object]] = [
    {"kind": "numeric", "nullable": True, "domain": {"min": -0.9999999999999999, "max": 709.78}},
    {"kind": "numeric", "nullable": False, "domain": {"min": 0.0, "max": None}},
    {"kind": "numeric", "nullable": True, "unknown": "refused", "values": [0.0, 2.0, 100.0]},
    {
        "kind": "categorical",
        "nullable": True,
        "matching": "exact",
        "unknown": "refused",
        "categories": ["Nov", "2", "true", "O'Neil", " nov "],
    },
]


def render_cases() -> str:
    import math
    import struct

    from tabship.parity_tests.vectors import reason_code
    from tabship.runtime.model.schema import InputSchema

    lines = []
    for kind in ("numeric", "categorical"):
        for nullable in (True, False):
            entry = {"name": "x", "kind": kind, "nullable": nullable, "max_length": 10}
            schema = InputSchema([entry])
            for text in [*CASE_VALUES, *_random_doubles(40)]:
                masked = schema.mask_rows([{"x": json.loads(text)}])
                case: dict[str, object] = {
                    "kind": kind,
                    "nullable": nullable,
                    "max_length": 10,
                    "json": text,
                }
                if masked.problems:
                    case["code"] = reason_code(masked.problems[0].reason)
                else:
                    fed = masked.feeds["x"][0, 0]
                    if kind == "numeric":
                        number = float(fed)
                        bits = struct.pack(">d", number).hex()
                        case["feed"] = "nan" if math.isnan(number) else bits
                    else:
                        case["feed"] = str(fed)
                lines.append(json.dumps(case, ensure_ascii=True))
    for entry_rules in RULE_INPUTS:
        entry = {"name": "x", "max_length": 10, **entry_rules}
        schema = InputSchema([entry])
        for text in [*CASE_VALUES, "-1", "-0.9999999999999999", "709.78", "709.7800000000001"]:
            masked = schema.mask_rows([{"x": json.loads(text)}])
            case = {**{k: v for k, v in entry.items() if k != "name"}, "json": text}
            if masked.problems:
                case["code"] = reason_code(masked.problems[0].reason)
            else:
                fed = masked.feeds["x"][0, 0]
                if entry["kind"] == "numeric":
                    number = float(fed)
                    case["feed"] = "nan" if math.isnan(number) else struct.pack(">d", number).hex()
                else:
                    case["feed"] = str(fed)
            lines.append(json.dumps(case, ensure_ascii=True))
    return "\n".join(lines) + "\n"


TARGETS = {JAVA: render_java, GO: render_go, CASES: render_cases}


def main(argv: list[str]) -> int:
    stale = []
    for target, render in TARGETS.items():
        text = render()
        if "--check" in argv:
            if not target.is_file() or target.read_text(encoding="utf-8") != text:
                stale.append(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    for target in stale:
        print(
            f"{target} differs from tabship/contract/: run scripts/client_rules.py", file=sys.stderr
        )
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
