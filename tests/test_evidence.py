"""Release evidence (training/evidence.py): apart from the version folder, under the manifest's
hashes. A replaced pipeline (a pickle that runs code) is refused before it is unpickled, by
`tabship parity` and `tabship export`, signed or not; an old version only on request, with a
warning; the rows come back from Parquet cell for cell."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest

from tabship.cli.main import main
from tabship.export.registry import Registry, RegistryError
from tabship.training import evidence


class Payload:
    """What an attacker pickles: unpickling it creates `marker` (code ran)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (os.mkdir, (str(self.marker),))


def copy_release(version_dir: Path, registry: Path) -> tuple[Path, Path]:
    """The version and its evidence, copied into `registry` and beside it."""
    manifest = json.loads((version_dir / "manifest.json").read_text())
    name, version = manifest["name"], manifest["version"]
    folder = registry / name / version
    shutil.copytree(version_dir, folder)
    source = Path(evidence.location(evidence.root_for_version(version_dir), name, version))
    kept = Path(evidence.location(evidence.root_for_version(folder), name, version))
    shutil.copytree(source, kept)
    return folder, kept


def test_dirty_rows_come_back_cell_for_cell() -> None:
    frame = pd.DataFrame(
        {
            "mixed": pd.Series(
                ["2", 2, 2.0, None, float("nan"), -0.0, float("inf"), True, "é ü", 2**62],
                dtype=object,
            ),
            "numbers": np.array([0.1, -0.0, np.nan, 5e-324, 1e308, 1, 2, 3, 4, 5], dtype=float),
            "counts": np.arange(10, dtype=np.int64),
            "kind": pd.Categorical(list("abcabcabca")),
        }
    )
    target = np.array([0, 1] * 5)
    data = evidence.frame_parquet(frame, target)
    back, back_target = evidence.parquet_frame(data, "test")
    assert back_target.dtype == target.dtype
    assert back_target.tolist() == target.tolist()
    assert [type(v) for v in back["mixed"]] == [type(v) for v in frame["mixed"]]
    assert [json.dumps(v) for v in back["mixed"]] == [json.dumps(v) for v in frame["mixed"]]
    assert np.signbit(back["mixed"][5])
    assert back["numbers"].to_numpy().tobytes() == frame["numbers"].to_numpy().tobytes()
    assert back["counts"].dtype == np.int64
    assert back["kind"].dtype == "category"
    assert back["kind"].tolist() == frame["kind"].tolist()


def test_a_cell_that_cannot_be_kept_is_refused_by_column() -> None:
    frame = pd.DataFrame({"odd": pd.Series([object()], dtype=object)})
    with pytest.raises(evidence.EvidenceError, match="column 'odd'"):
        evidence.frame_parquet(frame, np.array([0]))


def test_the_version_folder_holds_no_training_row(exported: Any) -> None:
    names = {p.name for p in exported.version_dir.rglob("*")}
    assert not names & {"reference.joblib", "reference_data.joblib", *evidence.FILES}
    found = evidence.read(exported.version_dir)
    assert found.reference_data["train_frame"].shape == exported.train_frame.shape
    assert evidence._same_frame(found.reference_data["test_frame"], exported.test_frame)


def test_evidence_inside_the_registry_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="inside the registry"):
        Registry(tmp_path / "models", str(tmp_path / "models" / "private"))


def _replace_pipeline(kept: Path, marker: Path) -> None:
    joblib.dump(Payload(marker), kept / evidence.PIPELINE_FILE)


def test_parity_refuses_a_replaced_pipeline_before_unpickling(
    exported: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, kept = copy_release(exported.version_dir, tmp_path / "models")
    marker = tmp_path / "code-ran"
    _replace_pipeline(kept, marker)
    assert main(["parity", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert "pipeline.joblib: SHA-256" in err
    assert "refusing to load it" in err
    assert len(err.splitlines()) == 1
    assert not marker.exists()


def test_export_refuses_a_replaced_pipeline_even_rehashed_when_signed(
    exported: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    folder, kept = copy_release(exported.version_dir, tmp_path / "models")
    assert main(["parity", str(folder), "--generated-rows", "200"]) == 0
    assert main(["keygen", str(tmp_path / "release.key")]) == 0
    assert main(["sign", str(folder), "--key", str(tmp_path / "release.key")]) == 0
    marker = tmp_path / "code-ran"
    _replace_pipeline(kept, marker)
    again = ["export", str(folder), "--registry", str(tmp_path / "again")]
    # unsigned check: the hash alone refuses it
    assert main(again) == 2
    assert "refusing to load it" in capsys.readouterr().err
    # the attacker also rewrites the manifest's hash: the signature refuses that manifest
    manifest = json.loads((folder / "manifest.json").read_text())
    data = (kept / evidence.PIPELINE_FILE).read_bytes()
    manifest["evidence"]["files"][evidence.PIPELINE_FILE] = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("TABSHIP_TRUSTED_KEYS", str(tmp_path / "release.key.pub"))
    assert main(again) == 2
    assert "manifest changed after signing" in capsys.readouterr().err
    assert not marker.exists()


def test_an_old_version_is_read_only_on_request_with_a_warning(
    exported: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The layout before the split: pickles in the version folder, no evidence section."""
    folder = tmp_path / "models" / exported.name / exported.version_dir.name
    shutil.copytree(exported.version_dir, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["evidence"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    found = evidence.read(exported.version_dir)
    joblib.dump(found.pipeline, folder / evidence.LEGACY_PIPELINE)
    joblib.dump(found.reference_data, folder / evidence.LEGACY_ROWS)
    assert main(["parity", str(folder), "--generated-rows", "200"]) == 2
    assert "--trust-legacy-evidence" in capsys.readouterr().err
    opted = ["parity", str(folder), "--generated-rows", "200", "--trust-legacy-evidence"]
    assert main(opted) == 0
    assert "old layout" in capsys.readouterr().err
    # and by default the replaced pickle of an old version is never loaded
    marker = tmp_path / "code-ran"
    (folder / evidence.LEGACY_PIPELINE).write_bytes(pickle.dumps(Payload(marker)))
    assert main(["parity", str(folder)]) == 2
    assert not marker.exists()


def test_parity_and_export_take_the_evidence_root(
    exported: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "served" / exported.name / exported.version_dir.name
    shutil.copytree(exported.version_dir, folder)
    assert main(["parity", str(folder), "--generated-rows", "200"]) == 2
    assert "no such file (is --evidence right?)" in capsys.readouterr().err
    root = evidence.root_for_version(exported.version_dir)
    assert main(["parity", str(folder), "--generated-rows", "200", "--evidence", root]) == 0
    # --evidence names where the source's evidence is and where the new version's goes
    private = tmp_path / "private" / exported.name
    shutil.copytree(Path(root) / exported.name / exported.version_dir.name, private / "x")
    (private / "x").rename(private / exported.version_dir.name)
    command = ["export", str(folder), "--registry", str(tmp_path / "again")]
    assert main([*command, "--evidence", str(private.parent)]) == 0
    written = [p for p in (tmp_path / "again").rglob("*") if p.is_file()]
    assert {p.name for p in written} == {"model.onnx", "manifest.json", "explainer.json"}
    assert len(list(private.iterdir())) == 2
