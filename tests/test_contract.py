"""tabship/contract/manifest.py's check and tabship/contract/manifest.schema.json describe one manifest: the
schema's vocabulary is the contract's, and every refusal of the check is a refusal of the schema
(the schema says more: it is the export side's full description). The Node consumer's
checkManifest refuses the same manifests, with the same words."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tabship.contract.errors import ModelRefused
from tabship.contract.manifest import (
    KIND_ONNX_TYPES,
    MANIFEST_VERSION,
    MANIFEST_VERSIONS,
    METADATA_KEY,
    MODEL_FILE,
    OUTPUT_NAMES,
    SCHEMA_PATH,
    check_manifest,
    embedded_manifest,
)
from tests.runtime.fixture_model import manifest_for

SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
Edit = Callable[[dict[str, Any]], None]


def _good() -> dict[str, Any]:
    return manifest_for("shoppers-full", "20260101T000000000000Z-0123abcd", 0.4)


def _first(kind: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda m: next(e for e in m["inputs"] if e["kind"] == kind)


numeric, categorical = _first("numeric"), _first("categorical")

# Each edit breaks one rule check_manifest enforces.
BROKEN: dict[str, Edit] = {
    "manifest_version": lambda m: m.update(manifest_version=2),
    "name missing": lambda m: m.pop("name"),
    "version not text": lambda m: m.update(version=7),
    "inputs empty": lambda m: m.update(inputs=[]),
    "input without a name": lambda m: numeric(m).pop("name"),
    "unknown kind": lambda m: numeric(m).update(kind="text"),
    "onnx_type for another kind": lambda m: numeric(m).update(onnx_type="tensor(string)"),
    "nullable not boolean": lambda m: numeric(m).update(nullable="yes"),
    "categories not text": lambda m: categorical(m).update(categories=[1, 2]),
    "aliases not text": lambda m: categorical(m).update(aliases={"a": 1}),
    "integer_codes not boolean": lambda m: categorical(m).update(integer_codes=1),
    "max_length below 1": lambda m: categorical(m).update(max_length=0),
    "max_length boolean": lambda m: categorical(m).update(max_length=True),
    "threshold above 1": lambda m: m["threshold"].update(value=1.5),
    "threshold boolean": lambda m: m["threshold"].update(value=True),
    "output without a name": lambda m: m["outputs"][0].pop("name"),
    "onnx missing": lambda m: m.pop("onnx"),
    "parity.status missing": lambda m: m["parity"].pop("status"),
}
# What JSON Schema cannot say: that the names in an array of objects are unique.
CHECK_ONLY = {"input twice": lambda m: m["inputs"].append(copy.deepcopy(m["inputs"][0]))}


def test_a_good_manifest_passes_the_check_and_the_schema() -> None:
    good = _good()
    assert check_manifest(good, "here") is good
    assert not list(VALIDATOR.iter_errors(good))


@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_the_check_and_the_schema_refuse_the_same_breakage(broken: str) -> None:
    manifest = _good()
    BROKEN[broken](manifest)
    with pytest.raises(ModelRefused, match="not a tabship manifest"):
        check_manifest(manifest, "here")
    assert list(VALIDATOR.iter_errors(manifest)), f"the schema accepts: {broken}"


@pytest.mark.parametrize("broken", sorted(CHECK_ONLY))
def test_the_check_refuses_what_the_schema_cannot_express(broken: str) -> None:
    manifest = _good()
    CHECK_ONLY[broken](manifest)
    with pytest.raises(ModelRefused, match="twice"):
        check_manifest(manifest, "here")


def test_the_schema_speaks_the_contracts_vocabulary() -> None:
    entry = SCHEMA["$defs"]["input"]["properties"]
    assert entry["kind"]["enum"] == list(KIND_ONNX_TYPES)
    assert entry["onnx_type"]["enum"] == list(KIND_ONNX_TYPES.values())
    pairs = [
        (o["properties"]["kind"]["const"], o["properties"]["onnx_type"]["const"])
        for o in SCHEMA["$defs"]["input"]["oneOf"]
    ]
    assert dict(pairs) == KIND_ONNX_TYPES
    assert SCHEMA["properties"]["manifest_version"]["enum"] == list(MANIFEST_VERSIONS)
    assert MANIFEST_VERSION == MANIFEST_VERSIONS[0]  # a binary manifest stays version 1
    assert SCHEMA["properties"]["onnx"]["properties"]["file"]["const"] == MODEL_FILE
    assert METADATA_KEY in SCHEMA["description"]
    assert [o["name"] for o in _good()["outputs"]] == list(OUTPUT_NAMES)


def test_the_embedded_manifest_lookup() -> None:
    assert embedded_manifest({}, "m.onnx") is None
    assert embedded_manifest({METADATA_KEY: '{"a": 1}'}, "m.onnx") == {"a": 1}
    with pytest.raises(ModelRefused, match=r"m.onnx: metadata_props tabship.manifest is not JSON"):
        embedded_manifest({METADATA_KEY: "{"}, "m.onnx")


NODE_DIR = Path(__file__).resolve().parent.parent / "clients" / "node"
_NODE_CHECK = """
import { checkManifest } from './src/tabship.js';
let text = '';
process.stdin.on('data', (chunk) => { text += chunk; });
process.stdin.on('end', () => {
  const answers = JSON.parse(text).map((m) => {
    try { checkManifest(m, 'here'); return null; } catch (error) { return error.message; }
  });
  process.stdout.write(JSON.stringify(answers));
});
"""


def test_the_node_consumer_refuses_what_the_check_refuses() -> None:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "onnxruntime-node").is_dir():
        pytest.fail("the Node consumer is not installed: run scripts/node_install.sh")
    cases = {"good": _good()}
    for name, edit in {**BROKEN, **CHECK_ONLY}.items():
        cases[name] = _good()
        edit(cases[name])
    done = subprocess.run(
        [node, "--input-type=module", "-e", _NODE_CHECK],
        cwd=NODE_DIR,
        input=json.dumps(list(cases.values())),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answers = dict(zip(cases, json.loads(done.stdout), strict=True))
    for name, manifest in cases.items():
        try:
            check_manifest(manifest, "here")
            python = None
        except ModelRefused as error:
            python = str(error).split(": not a tabship manifest: ")[1].replace("'", "")
        node_answer = answers[name]
        if python is None:
            assert node_answer is None, name
        else:
            assert node_answer is not None, f"node accepts: {name}"
            assert node_answer.split("is not a tabship manifest: ")[1] == python, name
