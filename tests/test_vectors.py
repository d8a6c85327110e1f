"""`tabship vectors`: every gate row a JSON client can send, with what the graph returns for it
(float32 bit patterns and decimals) or every (column, code) the server refuses it for."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tabship.cli.main import main
from tabship.contract.rules import REASONS
from tabship.parity_tests.vectors import SETS, reason_code, write_vectors
from tabship.runtime.model.schema import InputSchema

GENERATED = 150


def _read(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return lines[0], lines[1:]


@pytest.fixture(scope="module")
def binary_vectors(exported: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("vectors") / "binary.jsonl"
    assert (
        main(
            [
                "vectors",
                str(exported.version_dir),
                "-o",
                str(out),
                "--generated-rows",
                str(GENERATED),
            ]
        )
        == 0
    )
    return out


def test_every_reason_template_maps_back_to_its_code() -> None:
    values = {"shown": "'a boolean'", "json_type": "text", "length": 300, "max_length": 256}
    values |= {"value": "-2.0", "minimum": "-1.0", "maximum": "inf"}
    for code, template in REASONS.items():
        assert reason_code(template.format(**values)) == code
    with pytest.raises(ValueError, match="no reason code"):
        reason_code("something the server never says")


def test_vectors_hold_the_gate_rows_with_the_graphs_bits(
    binary_vectors: Path, exported: Any
) -> None:
    header, lines = _read(binary_vectors)
    manifest = json.loads((exported.version_dir / "manifest.json").read_text())
    assert header["format"] == "tabship.vectors"
    assert header["format_version"] == 1
    assert header["model"] == {
        "name": manifest["name"],
        "version": manifest["version"],
        "sha256": manifest["onnx"]["sha256"],
    }
    assert header["target"] == {"kind": "binary", "threshold": manifest["threshold"]["value"]}
    assert header["computed_by"]["session_options"]["intra_op_num_threads"] == 1
    assert header["lines"] == len(lines)
    assert [name for name in header["sets"]] == list(SETS)
    assert len([line for line in lines if line["set"] == "test"]) == len(exported.test_frame)
    assert (
        header["sets"]["generated"]["rows"] + header["sets"]["generated"]["not_json"] == GENERATED
    )
    schema = InputSchema(manifest["inputs"])
    threshold = manifest["threshold"]["value"]
    for name in SETS:
        rows = [line for line in lines if line["set"] == name]
        counts = header["sets"][name]
        assert counts["scored"] + counts["refused"] == counts["rows"] == len(rows)
        good = schema.mask_rows([line["row"] for line in rows]).good
        assert good.tolist() == ["expected" in line for line in rows]
        for line in rows:
            if "refused" in line:
                assert line["refused"]
                assert all(r["code"] in REASONS for r in line["refused"])
                continue
            expected = line["expected"]
            from_bits = [struct.unpack(">f", bytes.fromhex(b))[0] for b in expected["bits"]]
            assert from_bits == expected["probabilities"]
            assert abs(from_bits[1] - expected["reference"]) <= header["bar"]["max_abs_dp"]
            assert expected["label"] == int(from_bits[1] > 0.5)
            assert expected["decision"] == int(expected["reference"] >= threshold)


def test_hostile_rows_carry_the_servers_refusal_codes(binary_vectors: Path) -> None:
    _, lines = _read(binary_vectors)
    codes = {r["code"] for line in lines if "refused" in line for r in line["refused"]}
    # hostile rows send text that is not a number, over-long and NUL-bearing categories
    assert {"not_a_number", "too_long", "nul_character"} <= codes
    refused = next(line for line in lines if "refused" in line)
    assert set(refused) == {"set", "index", "row", "refused"}


def test_vectors_are_never_overwritten(binary_vectors: Path, exported: Any) -> None:
    before = binary_vectors.read_bytes()
    assert main(["vectors", str(exported.version_dir), "-o", str(binary_vectors)]) == 2
    assert binary_vectors.read_bytes() == before


def test_a_tampered_graph_gets_no_vectors(
    exported: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "version"
    shutil.copytree(exported.version_dir, copy)
    model = copy / "model.onnx"
    model.write_bytes(model.read_bytes() + b"\x00")
    assert main(["vectors", str(copy), "-o", str(tmp_path / "v.jsonl")]) == 2
    assert "SHA-256" in capsys.readouterr().err
    assert not (tmp_path / "v.jsonl").exists()


def test_multiclass_vectors_name_the_class(penguins_version: Any, tmp_path: Path) -> None:
    out = tmp_path / "penguins.jsonl"
    header = write_vectors(Path(penguins_version.version_dir), out, generated=GENERATED)
    classes = header["target"]["classes"]
    assert header["target"]["kind"] == "multiclass"
    assert len(classes) == 3
    _, lines = _read(out)
    scored = [line["expected"] for line in lines if "expected" in line]
    assert scored
    for expected in scored:
        assert len(expected["bits"]) == len(expected["reference"]) == len(classes)
        assert expected["decision"] == classes[expected["label"]]
        assert expected["label"] == int(np.argmax(expected["probabilities"]))
