"""Signing on release, with real trees: the attack of issue 16 item 8 (a tree threshold
halved, the manifest re-hashed) is served without trusted keys and refused with them;
`tabship train --sign-key` signs what passes the gate; the gate leaves a signed version alone."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from test_train_cli import LOANS, loans_frame, write_csv

from tabship.cli.main import main
from tabship.contract.signature import SIGNATURE_FILE
from tabship.export.registry import Registry
from tabship.runtime.dataplane.errors import InvalidRows, ModelRefused
from tabship.runtime.model.schema import InputSchema
from tabship.runtime.model.session import Model
from tabship.runtime.settings import Settings
from tabship.training import evidence


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    assert main(["keygen", str(folder / "release.key")]) == 0
    assert main(["keygen", str(folder / "attacker.key")]) == 0
    return {
        "release": folder / "release.key",
        "release.pub": folder / "release.key.pub",
        "attacker": folder / "attacker.key",
    }


@pytest.fixture(scope="module")
def released(
    exported: Any, keys: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The shared exported version, gated and signed, in a folder of its own."""
    folder = tmp_path_factory.mktemp("released") / exported.version_dir.name
    shutil.copytree(exported.version_dir, folder)
    assert (
        main(
            [
                "parity",
                str(folder),
                "--generated-rows",
                "500",
                "--evidence",
                evidence.root_for_version(exported.version_dir),
            ]
        )
        == 0
    )
    assert main(["sign", str(folder), "--key", str(keys["release"])]) == 0
    return folder


def _rows(exported: Any) -> list[dict[str, Any]]:
    rows = []
    for record in exported.test_frame.head(200).to_dict("records"):
        row = {}
        for key, value in record.items():
            if isinstance(value, float) and math.isnan(value):
                row[key] = None
            elif isinstance(value, np.generic):
                row[key] = value.item()
            else:
                row[key] = value
        rows.append(row)
    return rows


def _valid(model: Model, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows the server accepts (the raw test frame holds some it rightly refuses)."""
    schema = InputSchema(model.inputs)
    kept = []
    for row in rows:
        try:
            schema.rows_to_feeds([row])
        except InvalidRows:
            continue
        kept.append(row)
    return kept


def _probabilities(model: Model, rows: list[dict[str, Any]]) -> np.ndarray:
    feeds, _ = InputSchema(model.inputs).rows_to_feeds(rows)
    return np.asarray(model.score(feeds).probabilities[:, 1])


def _halve_a_threshold(folder: Path, feeds: dict[str, np.ndarray]) -> None:
    """The attack: halve one split threshold (the first whose change shows on these rows),
    then re-hash the manifest so that every hash check still passes."""
    model = onnx.load(folder / "model.onnx")
    trees = next(n for n in model.graph.node if n.op_type == "TreeEnsembleClassifier")
    values = next(a for a in trees.attribute if a.name == "nodes_values")
    modes = next(a for a in trees.attribute if a.name == "nodes_modes")
    honest = ort.InferenceSession(model.SerializeToString()).run(["probabilities"], feeds)[0]
    for index in (i for i, mode in enumerate(modes.strings) if mode != b"LEAF"):
        original = values.floats[index]
        values.floats[index] = original / 2
        data = model.SerializeToString()
        changed = ort.InferenceSession(data).run(["probabilities"], feeds)[0]
        if np.abs(changed - honest).max() > 1e-3:
            break
        values.floats[index] = original
    else:
        raise AssertionError("no single halved threshold changes these rows")
    (folder / "model.onnx").write_bytes(data)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["onnx"].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def test_a_halved_tree_threshold_is_refused_when_keys_are_trusted(
    exported: Any, released: Path, keys: dict[str, Path], tmp_path: Path
) -> None:
    trusted = (str(keys["release.pub"]),)
    honest = Model.load(Settings(model_uri=str(released), trusted_keys=trusted))
    rows = _valid(honest, _rows(exported))
    assert len(rows) > 100
    assert honest.artifact.signed_by is not None
    before = _probabilities(honest, rows)

    tampered = tmp_path / released.name
    shutil.copytree(released, tampered)
    feeds, _ = InputSchema(honest.inputs).rows_to_feeds(rows)
    _halve_a_threshold(tampered, feeds)
    # without trusted keys the hashes agree and the changed model is served (issue 16, item 8)
    served = Model.load(Settings(model_uri=str(tampered)))
    assert np.abs(_probabilities(served, rows) - before).max() > 1e-3
    with pytest.raises(ModelRefused, match="manifest changed after signing"):
        Model.load(Settings(model_uri=str(tampered), trusted_keys=trusted))
    # the attacker drops the signature, or signs with a key of their own
    (tampered / SIGNATURE_FILE).unlink()
    with pytest.raises(ModelRefused, match="no signature"):
        Model.load(Settings(model_uri=str(tampered), trusted_keys=trusted))
    assert main(["sign", str(tampered), "--key", str(keys["attacker"])]) == 0
    with pytest.raises(ModelRefused, match="signed by unknown key"):
        Model.load(Settings(model_uri=str(tampered), trusted_keys=trusted))


def test_the_gate_leaves_a_signed_version_alone(
    released: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = (released / "manifest.json").read_bytes()
    assert main(["parity", str(released), "--generated-rows", "500"]) == 2
    assert "is signed (manifest.sig)" in capsys.readouterr().err
    assert (released / "manifest.json").read_bytes() == manifest


def test_sign_key_needs_the_gate_and_a_readable_key(
    tmp_path: Path, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_csv(loans_frame(), tmp_path / "loans.csv")
    common = ["train", "--data", str(data), "--declaration", str(LOANS),
              "--registry", str(tmp_path / "r")]  # fmt: skip
    assert main([*common, "--no-gate", "--sign-key", str(keys["release"])]) == 2
    assert "--sign-key signs released versions" in capsys.readouterr().err
    assert main([*common, "--sign-key", str(tmp_path / "missing.key")]) == 2
    assert "--sign-key: key file" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # refused before any work


@pytest.mark.slow
def test_train_signs_each_released_version(
    tmp_path: Path, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_csv(loans_frame(), tmp_path / "loans.csv")
    root = tmp_path / "registry"
    code = main(
        ["train", "--data", str(data), "--declaration", str(LOANS), "--registry", str(root),
         "--search-iterations", "1", "--sign-key", str(keys["release"])]
    )  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    version = Registry(root).latest("loans-full")
    assert f"{version}: signed by ed25519:" in out.out
    assert (version / SIGNATURE_FILE).is_file()
    model = Model.load(Settings(model_uri=str(version), trusted_keys=(str(keys["release.pub"]),)))
    assert model.artifact.signed_by is not None
