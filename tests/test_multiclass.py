"""Multiclass targets: declaration, preparation, training metrics and report, the exported graph
and manifest, and the release gate (passing, and failing on a nudged threshold of any class)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from multiclass_models import RARE_MODE, failures_frame, penguins_frame
from onnx import TensorProto, helper

from tabship.export.convert import _add_multiclass_decision
from tabship.export.manifest import SCHEMA_PATH
from tabship.parity_tests.gate import check_parity
from tabship.training import evidence
from tabship.training.declaration import DeclarationError, _parse, load_declaration
from tabship.training.prepare import PreparationError, prepare

HEADER = '[dataset]\nname = "t"\ntarget = "y"\n'
COLUMNS = '[[columns]]\nname = "x"\nkind = "numeric"\n'


def _declare(tmp_path: Path, dataset_lines: str) -> Any:
    path = tmp_path / "d.toml"
    path.write_text(HEADER + dataset_lines + "\n" + COLUMNS)
    return load_declaration(path)


def test_declared_classes_keep_their_order_and_spelling(tmp_path: Path) -> None:
    declaration = _declare(tmp_path, 'classes = [" Gentoo", "Adelie", "Chinstrap"]')
    assert declaration.multiclass
    assert declaration.classes == ("Gentoo", "Adelie", "Chinstrap")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ('classes = ["a"]', "at least two classes"),
        ('classes = ["Adelie", " adelie "]', "are the same class"),
        ('classes = ["a", ""]', "must not be empty"),
        ('classes = "a,b"', "must be a list of class names"),
        ('classes = ["a", "b"]\npositive_values = ["a"]', "takes classes, not positive"),
        ('task = "regression"', "must be 'binary' or 'multiclass'"),
        ('task = "binary"\nclasses = ["a", "b"]', "takes positive_values, not classes"),
    ],
)
def test_bad_class_declarations_name_the_field(tmp_path: Path, lines: str, message: str) -> None:
    with pytest.raises(DeclarationError, match=message) as error:
        _declare(tmp_path, lines)
    assert "dataset." in str(error.value)


def test_binary_declaration_is_unchanged(declaration: Any) -> None:
    assert not declaration.multiclass
    assert declaration.classes == ()


def test_target_spellings_are_folded_like_category_labels(tmp_path: Path) -> None:
    declaration = _declare(tmp_path, 'classes = ["Adelie", "Gentoo"]')
    values = ["Adelie", " ADELIE\t", "gentoo", "Gentoo ", "adelie", "GENTOO"] * 3
    frame = pd.DataFrame({"x": np.arange(len(values), dtype=float), "y": values})
    prepared = prepare(frame, declaration, "t.csv")
    assert prepared.classes == ("Adelie", "Gentoo")
    assert prepared.target.tolist() == [0, 0, 1, 1, 0, 1] * 3


def test_a_value_outside_the_classes_is_an_error_naming_it(tmp_path: Path) -> None:
    declaration = _declare(tmp_path, 'classes = ["Adelie", "Gentoo"]')
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["Adelie", "Gentoo", "Emperor"]})
    with pytest.raises(PreparationError, match=r"'Emperor'.*not one of the declared classes"):
        prepare(frame, declaration, "t.csv")


def test_fewer_than_two_classes_present_is_an_error(tmp_path: Path) -> None:
    declaration = _declare(tmp_path, 'task = "multiclass"')
    frame = pd.DataFrame({"x": np.arange(10.0), "y": ["a"] * 10})
    with pytest.raises(PreparationError, match=r"1 class\(es\) \['a'\]; .* at least two"):
        prepare(frame, declaration, "t.csv")


def test_a_declared_class_without_enough_rows_is_an_error_naming_it(tmp_path: Path) -> None:
    declaration = _declare(tmp_path, 'classes = ["a", "b", "c"]')
    frame = pd.DataFrame({"x": np.arange(20.0), "y": ["a"] * 10 + ["b"] * 8 + ["c"] * 2})
    with pytest.raises(PreparationError, match=r"'c' \(2\) have fewer than 5 rows"):
        prepare(frame, declaration, "t.csv")


def test_inferred_classes_are_sorted_and_named_by_their_usual_spelling(tmp_path: Path) -> None:
    declaration = _declare(tmp_path, 'task = "multiclass"')
    values = ["Gentoo", "Adelie", "GENTOO", "Gentoo", "Chinstrap", None, "", 7, 7.0] * 5
    frame = pd.DataFrame({"x": np.arange(len(values), dtype=float), "y": values})
    prepared = prepare(frame, declaration, "t.csv")
    assert prepared.classes == ("7", "Adelie", "Chinstrap", "Gentoo")
    assert prepared.dropped_missing_target == 10


def test_penguins_keep_their_missing_values(penguins_version: Any) -> None:
    raw = penguins_frame()
    assert raw["sex"].isna().sum() == 11
    assert raw["bill_length_mm"].isna().sum() == 2
    trained = penguins_version.trained
    seen = pd.concat([trained.train_frame, trained.test_frame])
    assert seen["sex"].isna().sum() == 11  # rows with missing inputs are trained on, not dropped
    assert trained.classes == ("Adelie", "Chinstrap", "Gentoo")


@pytest.mark.parametrize("fixture", ["penguins_version", "failures_version"])
def test_metrics_report_and_manifest(fixture: str, request: pytest.FixtureRequest) -> None:
    version = request.getfixturevalue(fixture)
    classes = list(version.declaration.classes)
    manifest = json.loads((version.version_dir / "manifest.json").read_text())
    jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text())).validate(manifest)
    assert manifest["manifest_version"] == 2
    assert "threshold" not in manifest
    assert manifest["target"] == {
        "kind": "multiclass",
        "classes": classes,
        "decision": "argmax",
        "ties": "the lowest index among equal probabilities (numpy's argmax)",
    }
    outputs = {o["name"]: o for o in manifest["outputs"]}
    assert outputs["probabilities"]["shape"] == ["N", len(classes)]
    assert outputs["decision"]["onnx_type"] == "tensor(string)"
    metrics = manifest["metrics"]
    for key in ("log_loss", "accuracy", "f1_macro", "f1_weighted", "roc_auc_ovr_macro"):
        assert np.isfinite(metrics[key]), key
    assert metrics["accuracy"] > 0.6
    assert metrics["roc_auc_ovr_macro"] > 0.85
    assert list(manifest["metrics_per_class"]) == classes
    assert all(m["support"] >= 1 for m in manifest["metrics_per_class"].values())
    report = version.version_dir / "report"
    for name in ("confusion_matrix.png", "pr_curves.png", "feature_importance.png"):
        assert (report / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    summary = json.loads((report / "metrics.json").read_text())
    matrix = np.array(summary["confusion_matrix"])
    assert matrix.shape == (len(classes), len(classes))
    assert matrix.sum() == manifest["data"]["rows"]["test"]
    assert np.trace(matrix) / matrix.sum() == pytest.approx(metrics["accuracy"])
    embedded = onnx.load(version.version_dir / "model.onnx").metadata_props
    assert json.loads(embedded[0].value)["target"]["classes"] == classes


def test_the_rare_class_is_in_every_split(failures_version: Any) -> None:
    trained = failures_version.trained
    rare = trained.classes.index(RARE_MODE)
    assert len(trained.classes) == 6
    assert (trained.test_target == rare).sum() >= 1
    assert (trained.train_target == rare).sum() >= 3  # one per fold at least
    counts = failures_frame()["mode"].str.strip().str.lower().value_counts()
    assert counts[RARE_MODE] / counts.sum() < 0.03


@pytest.mark.parametrize("fixture", ["penguins_version", "failures_version"])
def test_graph_outputs_are_the_pipeline_argmax_and_class_names(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    version = request.getfixturevalue(fixture)
    pipeline = evidence.read(version.version_dir).pipeline
    session = ort.InferenceSession(str(version.version_dir / "model.onnx"))
    frame = version.trained.test_frame
    from tabship.parity_tests.compare import feeds_for

    label, probabilities, decision = session.run(None, feeds_for(session, frame))
    expected = pipeline.predict_proba(frame)
    assert probabilities.shape == expected.shape
    assert np.abs(probabilities - expected).max() <= 1e-6
    assert label.tolist() == np.argmax(expected, axis=1).tolist()
    assert label.tolist() == pipeline.predict(frame).tolist()
    classes = version.declaration.classes
    assert decision.tolist() == [classes[i] for i in label]


def test_the_graph_breaks_ties_to_the_lowest_index_like_numpy() -> None:
    probabilities = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 3])
    graph = helper.make_graph(
        [
            helper.make_node("Identity", ["x"], ["probabilities"]),
            helper.make_node("ArgMax", ["x"], ["label"], axis=1, keepdims=0, select_last_index=1),
        ],
        "ties",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, [None]), probabilities],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    _add_multiclass_decision(model, ["a", "b", "c"])
    onnx.checker.check_model(model, full_check=True)
    rows = np.array(
        [[0.4, 0.4, 0.2], [0.2, 0.4, 0.4], [1 / 3, 1 / 3, 1 / 3], [0.1, 0.2, 0.7]], np.float32
    )
    label, _, decision = ort.InferenceSession(model.SerializeToString()).run(
        ["label", "probabilities", "decision"], {"x": rows}
    )
    assert label.tolist() == np.argmax(rows, axis=1).tolist() == [0, 1, 0, 2]
    assert decision.tolist() == ["a", "b", "a", "c"]


@pytest.mark.parametrize("fixture", ["penguins_version", "failures_version"])
def test_gate_passes_on_every_set_with_probes_for_every_class(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    version = request.getfixturevalue(fixture)
    outcome = version.outcome
    assert outcome["status"] == "passed", outcome["sets"]
    assert {s["name"] for s in outcome["sets"]} == {
        "test",
        "train",
        "boundary",
        "hostile",
        "generated",
    }
    for entry in outcome["sets"]:
        assert entry["rows"] > 0
        assert entry["max_abs_dp"] <= 1e-6
        assert entry["flips"] == 0
        assert entry["threshold_flips"] == 0
    k = len(version.declaration.classes)
    splits = outcome["boundary_splits_per_class"]
    assert sorted(splits) == [str(i) for i in range(k)]
    assert all(splits.values())
    assert outcome["boundary_thresholds"]["probed"] == outcome["boundary_thresholds"]["total"]
    manifest = json.loads((version.version_dir / "manifest.json").read_text())
    assert manifest["parity"]["status"] == "passed"


def _nudge_first_split_of_class(model: onnx.ModelProto, class_id: int) -> onnx.ModelProto:
    """One float32 ulp up on the first split of the first tree that scores `class_id`."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    trees = next(n for n in copy.graph.node if n.op_type == "TreeEnsembleClassifier")
    attrs = {a.name: a for a in trees.attribute}
    tree = next(
        t
        for t, c in zip(attrs["class_treeids"].ints, attrs["class_ids"].ints, strict=True)
        if c == class_id
    )
    index = next(
        i
        for i, (t, mode) in enumerate(
            zip(attrs["nodes_treeids"].ints, attrs["nodes_modes"].strings, strict=True)
        )
        if t == tree and mode != b"LEAF"
    )
    values = attrs["nodes_values"]
    value = np.float32(values.floats[index])
    values.floats[index] = float(np.nextafter(value, np.float32(np.inf), dtype=np.float32))
    return copy


@pytest.mark.parametrize("class_id", [0, 1, 2])
def test_gate_fails_on_a_nudged_threshold_of_any_class(
    penguins_version: Any, class_id: int
) -> None:
    folder = penguins_version.version_dir
    model = _nudge_first_split_of_class(onnx.load(folder / "model.onnx"), class_id)
    gate = check_parity(
        evidence.read(folder).pipeline,
        model.SerializeToString(),
        json.loads((folder / "manifest.json").read_text()),
        evidence.read(folder).reference_data,
        generated=200,
    )
    assert not gate.passed
    boundary = next(r for r in gate.results if r.name == "boundary")
    assert boundary.max_abs_dp > 1e-6


def test_binary_manifest_stays_version_one(exported: Any) -> None:
    manifest = json.loads((exported.version_dir / "manifest.json").read_text())
    assert manifest["manifest_version"] == 1
    assert "target" not in manifest
    assert "metrics_per_class" not in manifest
    assert manifest["threshold"]["applies_to"] == "decision = probabilities[:, 1] >= value"
    assert [o["shape"] for o in manifest["outputs"]] == [["N"], ["N", 2], ["N"]]


def test_schema_refuses_a_version_two_manifest_with_a_threshold(penguins_version: Any) -> None:
    manifest = json.loads((penguins_version.version_dir / "manifest.json").read_text())
    manifest["threshold"] = {"value": 0.5, "rule": "max_f1", "applies_to": "x"}
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    assert not validator.is_valid(manifest)
    del manifest["threshold"], manifest["target"]
    assert not validator.is_valid(manifest)


def test_declaration_parser_is_shared(tmp_path: Path) -> None:
    raw = {
        "dataset": {"name": "t", "target": "y", "task": "multiclass"},
        "columns": [{"name": "x", "kind": "numeric"}],
    }
    declaration = _parse(tmp_path / "t.toml", raw)
    assert declaration.multiclass
    assert declaration.classes == ()
    assert declaration.for_variant("full").multiclass


def test_declare_infers_a_multiclass_target(tmp_path: Path) -> None:
    from tabship.training.infer import infer_declaration

    frame = penguins_frame()
    frame.loc[:3, "species"] = ["  adelie", "ADELIE", "Gentoo ", None]
    text = infer_declaration(frame, source="penguins.csv", name="penguins", target="species")
    assert 'classes = ["Adelie", "Chinstrap", "Gentoo"]' in text
    assert "positive_values" not in text
    assert "3 classes seen (Adelie 150, Chinstrap 68, Gentoo 125 rows)" in text
    path = tmp_path / "penguins.toml"
    path.write_text(text)
    declaration = load_declaration(path)
    assert declaration.classes == ("Adelie", "Chinstrap", "Gentoo")
    prepared = prepare(frame, declaration, "penguins.csv")
    assert prepared.dropped_missing_target == 1


@pytest.mark.parametrize(
    ("values", "extra", "message"),
    [
        (["a", "b", "c"] * 5, {"positive": "a"}, "--positive applies to a binary target"),
        ([f"id{i}" for i in range(150)], {}, "150 distinct values; a class target takes at most"),
        (["a"] * 6 + ["b"] * 6 + ["c"] * 2, {}, r"class\(es\) 'c' \(2\) have fewer than 5"),
    ],
)
def test_declare_refuses_what_cannot_be_classes(
    values: list[str], extra: dict[str, str], message: str
) -> None:
    from tabship.training.infer import InferenceError, infer_declaration

    frame = pd.DataFrame({"x": np.arange(len(values), dtype=float), "y": values})
    with pytest.raises(InferenceError, match=message):
        infer_declaration(frame, source="t.csv", name="t", target="y", **extra)


def test_train_with_target_infers_classes_and_trains(tmp_path: Path, capsys: Any) -> None:
    from tabship.cli.main import main

    data = tmp_path / "penguins.csv"
    penguins_frame().to_csv(data, index=False)
    code = main(
        [
            "train",
            "--data",
            str(data),
            "--target",
            "species",
            "--search-iterations",
            "1",
            "--registry",
            str(tmp_path / "models"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "roc_auc_ovr_macro" in out
    assert "PASSED" in out
    (manifest_path,) = (tmp_path / "models").glob("*/*/manifest.json")
    manifest = json.loads(manifest_path.read_text())
    assert manifest["target"]["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert manifest["parity"]["status"] == "passed"


def test_train_refuses_a_threshold_rule_for_a_multiclass_target(
    tmp_path: Path, capsys: Any
) -> None:
    from multiclass_models import PENGUINS

    from tabship.cli.main import main

    data = tmp_path / "penguins.csv"
    penguins_frame().to_csv(data, index=False)
    argv = ["train", "--data", str(data), "--declaration", str(PENGUINS)]
    assert main([*argv, "--threshold-rule", "min_precision:0.9", "--no-export"]) == 2
    assert "--threshold-rule applies to a binary target" in capsys.readouterr().err


def test_reexport_keeps_the_classes_and_the_graph(penguins_version: Any, tmp_path: Path) -> None:
    from tabship.export.artifact import export_candidate, load_candidate
    from tabship.export.registry import Registry

    again = export_candidate(load_candidate(penguins_version.version_dir), Registry(tmp_path))
    first = json.loads((penguins_version.version_dir / "manifest.json").read_text())
    second = json.loads((again / "manifest.json").read_text())
    assert second["target"] == first["target"]
    assert second["onnx"]["graph_sha256"] == first["onnx"]["graph_sha256"]
    assert second["metrics_per_class"] == first["metrics_per_class"]


def test_inspect_shows_the_classes(penguins_version: Any, capsys: Any) -> None:
    from tabship.cli.main import main

    assert main(["inspect", str(penguins_version.version_dir)]) == 0
    out = capsys.readouterr().out
    assert "classes     ['Adelie', 'Chinstrap', 'Gentoo'] (label: the arg-max)" in out
    assert main(["inspect", str(penguins_version.version_dir), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["target"]["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert info["threshold"] is None


def test_two_declared_classes_train_as_named_classes(tmp_path: Path) -> None:
    from multiclass_models import PENGUINS, build_version

    toml = tmp_path / "two.toml"
    toml.write_text(
        PENGUINS.read_text().replace('"Adelie", "Chinstrap", "Gentoo"', '"Gentoo", "Adelie"')
    )
    frame = penguins_frame()
    version = build_version(tmp_path, frame[frame["species"] != "Chinstrap"], toml)
    assert version.outcome["status"] == "passed", version.outcome["sets"]
    manifest = json.loads((version.version_dir / "manifest.json").read_text())
    assert manifest["target"]["classes"] == ["Gentoo", "Adelie"]
    assert manifest["outputs"][1]["shape"] == ["N", 2]
    session = ort.InferenceSession(str(version.version_dir / "model.onnx"))
    from tabship.parity_tests.compare import feeds_for

    test = version.trained.test_frame
    label, _, decision = session.run(None, feeds_for(session, test))
    truth = ["Gentoo", "Adelie"]
    assert decision.tolist() == [truth[i] for i in label]
    assert (decision == np.asarray(truth, dtype=object)[version.trained.test_target]).mean() > 0.9
