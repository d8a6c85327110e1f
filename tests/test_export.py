"""The exported graph: well-formed, plain, deterministic, and computing what the pipeline does."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from onnx import TensorProto

from tabship.contract.values import category_text, number_value
from tabship.export.artifact import graph_bytes
from tabship.export.convert import DECISION, LABEL, OPSETS, PROBABILITIES, convert_pipeline
from tabship.export.manifest import METADATA_KEY


@pytest.fixture(scope="module")
def model(exported) -> onnx.ModelProto:  # type: ignore[no-untyped-def]
    return onnx.load(exported.version_dir / "model.onnx")


@pytest.fixture(scope="module")
def session(exported) -> ort.InferenceSession:  # type: ignore[no-untyped-def]
    return ort.InferenceSession(
        str(exported.version_dir / "model.onnx"), providers=["CPUExecutionProvider"]
    )


def feeds(frame: pd.DataFrame, declaration) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    out = {}
    for column in declaration.columns:
        values = frame[column.name].tolist()
        if column.kind == "numeric":
            out[column.name] = np.array([number_value(v) for v in values], np.float64).reshape(
                -1, 1
            )
        else:
            out[column.name] = np.array([category_text(v) for v in values], object).reshape(-1, 1)
    return out


def test_checker_full(model: onnx.ModelProto) -> None:
    onnx.checker.check_model(model, full_check=True)


def test_opsets_are_standard_and_pinned(model: onnx.ModelProto) -> None:
    assert {o.domain: o.version for o in model.opset_import} == OPSETS == {"": 21, "ai.onnx.ml": 3}
    assert {n.domain for n in model.graph.node} <= {"", "ai.onnx.ml"}
    assert not model.functions


def test_no_external_data_and_no_zipmap(model: onnx.ModelProto) -> None:
    for initializer in model.graph.initializer:
        assert initializer.data_location != TensorProto.EXTERNAL, initializer.name
        assert not initializer.external_data, initializer.name
    op_types = {n.op_type for n in model.graph.node}
    assert "ZipMap" not in op_types
    assert "Cast" in op_types
    assert "TreeEnsembleClassifier" in op_types or "TreeEnsemble" in op_types


def _shape(value_info: onnx.ValueInfoProto) -> list[object]:
    return [
        d.dim_value if d.HasField("dim_value") else None
        for d in value_info.type.tensor_type.shape.dim
    ]


def test_inputs_one_per_declared_column(exported, model: onnx.ModelProto) -> None:  # type: ignore[no-untyped-def]
    inputs = {i.name: i for i in model.graph.input}
    assert list(inputs) == exported.declaration.raw_columns
    for column in exported.declaration.columns:
        tensor = inputs[column.name].type.tensor_type
        expected = TensorProto.DOUBLE if column.kind == "numeric" else TensorProto.STRING
        assert tensor.elem_type == expected, column.name
        assert _shape(inputs[column.name]) == [None, 1], column.name


def test_outputs(model: onnx.ModelProto) -> None:
    outputs = {o.name: o for o in model.graph.output}
    assert list(outputs) == [LABEL, PROBABILITIES, DECISION]
    assert outputs[LABEL].type.tensor_type.elem_type == TensorProto.INT64
    assert outputs[PROBABILITIES].type.tensor_type.elem_type == TensorProto.FLOAT
    assert outputs[DECISION].type.tensor_type.elem_type == TensorProto.INT64
    assert _shape(outputs[PROBABILITIES])[1] == 2
    assert len(_shape(outputs[LABEL])) == 1
    assert len(_shape(outputs[DECISION])) == 1


def test_metadata(exported, model: onnx.ModelProto) -> None:  # type: ignore[no-untyped-def]
    assert model.producer_name == "tabship"
    assert model.model_version > 0
    props = {p.key: p.value for p in model.metadata_props}
    assert METADATA_KEY in props


def test_same_pipeline_converts_to_the_same_bytes(exported) -> None:  # type: ignore[no-untyped-def]
    first = convert_pipeline(exported.pipeline, exported.declaration, exported.threshold)
    second = convert_pipeline(exported.pipeline, exported.declaration, exported.threshold)
    assert first.SerializeToString(deterministic=True) == second.SerializeToString(
        deterministic=True
    )
    assert graph_bytes(first) == graph_bytes(second)
    on_disk = onnx.load(exported.version_dir / "model.onnx")
    assert graph_bytes(on_disk) == graph_bytes(first)


def test_two_exported_versions_have_the_same_graph(exported, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tabship.export.artifact import export_candidate
    from tabship.export.registry import Registry

    registry = Registry(tmp_path)
    one = export_candidate(exported.candidate, registry)
    two = export_candidate(exported.candidate, registry)
    assert one != two
    assert registry.versions(exported.name) == [one.name, two.name]
    bytes_one, bytes_two = (onnx.load(p / "model.onnx") for p in (one, two))
    assert graph_bytes(bytes_one) == graph_bytes(bytes_two)


def test_different_threshold_changes_only_the_decision(exported) -> None:  # type: ignore[no-untyped-def]
    a = convert_pipeline(exported.pipeline, exported.declaration, 0.25)
    b = convert_pipeline(exported.pipeline, exported.declaration, 0.75)
    assert graph_bytes(a) != graph_bytes(b)


@pytest.mark.parametrize("which", ["train", "test"])
def test_parity_with_the_pipeline(exported, session: ort.InferenceSession, which: str) -> None:  # type: ignore[no-untyped-def]
    frame = getattr(exported, f"{which}_frame")
    label, probabilities, decision = session.run(
        [LABEL, PROBABILITIES, DECISION], feeds(frame, exported.declaration)
    )
    expected = exported.pipeline.predict_proba(frame)
    assert probabilities.shape == expected.shape
    assert np.abs(probabilities.astype(np.float64) - expected).max() <= 1e-6
    np.testing.assert_array_equal(label, exported.pipeline.predict(frame))
    p1 = probabilities[:, 1].astype(np.float64)
    np.testing.assert_array_equal(decision, (p1 >= exported.threshold).astype(np.int64))
    assert 0 < decision.sum() < len(decision)


def test_parity_on_hostile_rows(exported, session: ort.InferenceSession) -> None:  # type: ignore[no-untyped-def]
    base = exported.test_frame.iloc[:8].reset_index(drop=True)
    rows = [base]
    hostile_numbers = [
        None,
        float("nan"),
        "abc",
        float("inf"),
        -1e308,
        1e308,
        -0.0,
        5e-324,
        -3.0,
        " 7 ",
    ]
    hostile_text = [
        None,
        float("nan"),
        "",
        "  ",
        "UNSEEN",
        "nOv ",
        " 2.0 ",
        2.0,
        "02",
        "returning visitor",
    ]
    for column in exported.declaration.columns:
        values = hostile_numbers if column.kind == "numeric" else hostile_text
        for value in values:
            row = base.iloc[[len(rows) % len(base)]].copy()
            row[column.name] = pd.Series([value], dtype=object, index=row.index)
            rows.append(row)
    frame = pd.concat(rows, ignore_index=True).astype(object)
    label, probabilities = session.run([LABEL, PROBABILITIES], feeds(frame, exported.declaration))
    expected = exported.pipeline.predict_proba(frame)
    assert np.abs(probabilities.astype(np.float64) - expected).max() <= 1e-6
    np.testing.assert_array_equal(label, exported.pipeline.predict(frame))


def test_scores_in_a_process_without_the_training_stack(exported) -> None:  # type: ignore[no-untyped-def]
    frame = exported.test_frame.iloc[:25]
    expected = exported.pipeline.predict_proba(frame)[:, 1]
    rows = [
        {
            c.name: (number_value(v) if c.kind == "numeric" else category_text(v))
            for c, v in zip(exported.declaration.columns, row, strict=True)
        }
        for row in frame[exported.declaration.raw_columns].itertuples(index=False)
    ]
    script = textwrap.dedent(
        """
        import json, sys
        import numpy as np
        import onnxruntime as ort

        model_path, rows = sys.argv[1], json.loads(sys.stdin.read())
        session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
        feeds = {}
        for spec in session.get_inputs():
            dtype = np.float64 if spec.type == "tensor(double)" else object
            values = [float("nan") if r[spec.name] is None else r[spec.name] for r in rows]
            feeds[spec.name] = np.array(values, dtype=dtype).reshape(-1, 1)
        label, probabilities, decision = session.run(["label", "probabilities", "decision"], feeds)
        meta = session.get_modelmeta().custom_metadata_map
        forbidden = [m for m in ("sklearn", "xgboost", "pandas", "skl2onnx", "onnx", "scipy", "training", "export") if m in sys.modules]
        print(json.dumps({
            "p": probabilities[:, 1].astype(float).tolist(),
            "decision": decision.tolist(),
            "has_manifest": "tabship.manifest" in meta,
            "forbidden": forbidden,
        }))
        """
    )

    # NaN is not JSON: send None for missing numbers, the script turns it back into NaN.
    payload = json.dumps(
        [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()} for r in rows]
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(exported.version_dir / "model.onnx")],
        input=payload,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["forbidden"] == []
    assert result["has_manifest"]
    np.testing.assert_allclose(result["p"], expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(
        result["decision"], (np.array(result["p"]) >= exported.threshold).astype(int)
    )


def test_manifest_graph_sha256_can_be_checked_from_the_file(exported) -> None:  # type: ignore[no-untyped-def]
    manifest = json.loads((exported.version_dir / "manifest.json").read_text())
    on_disk = onnx.load(exported.version_dir / "model.onnx")
    assert manifest["onnx"]["graph_sha256"] == hashlib.sha256(graph_bytes(on_disk)).hexdigest()


def test_provenance_is_the_training_directory_commit_or_the_given_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tabship.export.manifest import git_state

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=tmp_path, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    git("init", "-q")
    (tmp_path / "train.py").write_text("print('fit')\n")
    git("add", "train.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first")
    monkeypatch.delenv("TABSHIP_GIT_SHA", raising=False)
    monkeypatch.chdir(tmp_path)  # where the user trains, not where tabship is installed
    assert git_state() == {"sha": git("rev-parse", "HEAD"), "dirty": False}
    monkeypatch.setenv("TABSHIP_GIT_SHA", "0123abc")
    assert git_state() == {"sha": "0123abc", "dirty": None}
