"""The registry (immutable, atomic, ordered versions) and the manifest of an exported version."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import onnx
import pytest

from tabship.export.manifest import FILE_KEYS, METADATA_KEY, SCHEMA_PATH, embedded_copy
from tabship.export.registry import VERSION_PATTERN, Registry, RegistryError

NAME = "tiny-full"


def _fill(content: str):  # type: ignore[no-untyped-def]
    def fill(folder: Path) -> None:
        (folder / "model.onnx").write_text(content)
        (folder / "sub").mkdir()
        (folder / "sub" / "note.txt").write_text(content)

    return fill


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _leftovers(registry: Registry) -> list[str]:
    return sorted(p.name for p in (registry.root / NAME).iterdir() if p.name.startswith("."))


def test_write_then_read(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    version = registry.new_version_id(NAME, "ab" * 32)
    path = registry.write_version(NAME, version, _fill("one"))
    assert path == tmp_path / NAME / version
    assert _snapshot(path) == {"model.onnx": b"one", "sub/note.txt": b"one"}
    assert registry.versions(NAME) == [version]
    assert registry.models() == [NAME]
    assert registry.latest(NAME) == path
    assert _leftovers(registry) == []


def test_second_write_of_a_version_fails_and_leaves_it_untouched(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    version = registry.new_version_id(NAME, "0" * 64)
    path = registry.write_version(NAME, version, _fill("original"))
    before = _snapshot(path)
    called = []

    def fill(folder: Path) -> None:
        called.append(folder)
        (folder / "model.onnx").write_text("overwritten")

    with pytest.raises(RegistryError, match="never overwritten"):
        registry.write_version(NAME, version, fill)
    assert called == []
    assert _snapshot(path) == before
    assert _leftovers(registry) == []


def test_failure_in_fill_leaves_nothing(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    version = registry.new_version_id(NAME, "1" * 64)

    def fill(folder: Path) -> None:
        (folder / "model.onnx").write_text("half")
        raise OSError("disk full (injected)")

    with pytest.raises(OSError, match="injected"):
        registry.write_version(NAME, version, fill)
    assert not (tmp_path / NAME / version).exists()
    assert _leftovers(registry) == []
    assert registry.versions(NAME) == []
    assert registry.models() == []
    with pytest.raises(RegistryError, match="no versions"):
        registry.latest(NAME)


def test_interrupt_in_fill_leaves_nothing(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    version = registry.new_version_id(NAME, "2" * 64)

    def fill(folder: Path) -> None:
        (folder / "model.onnx").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        registry.write_version(NAME, version, fill)
    assert registry.versions(NAME) == []
    assert _leftovers(registry) == []


def test_version_ids_are_unique_and_sorted_in_creation_order(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    created = []
    for index in range(12):
        # the same content every time, as fast as possible: ids must still differ and sort
        version = registry.new_version_id(NAME, "f" * 64)
        created.append(registry.write_version(NAME, version, _fill(str(index))).name)
    assert len(set(created)) == len(created)
    assert created == sorted(created)
    assert registry.versions(NAME) == created
    assert all(VERSION_PATTERN.match(v) for v in created)
    assert registry.latest(NAME).name == created[-1]
    assert (registry.latest(NAME) / "model.onnx").read_text() == "11"


def test_new_id_is_after_existing_even_with_a_clock_going_back(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    now = datetime(2030, 1, 1, tzinfo=UTC)
    first = registry.write_version(NAME, registry.new_version_id(NAME, "a" * 64, now), _fill("a"))
    second_id = registry.new_version_id(NAME, "0" * 64, now - timedelta(days=1))
    assert second_id > first.name


def test_versions_ignore_other_folders(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    (tmp_path / NAME / ".staging-x").mkdir(parents=True)
    (tmp_path / NAME / "not-a-version").mkdir()
    assert registry.versions(NAME) == []
    assert registry.models() == []
    assert registry.versions("absent") == []


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("Bad Name", "20300101T000000000000Z-abcdef12"),
        ("../escape", "20300101T000000000000Z-abcdef12"),
        (NAME, "latest"),
        (NAME, "../20300101T000000000000Z-abcdef12"),
    ],
)
def test_bad_names_are_refused(tmp_path: Path, name: str, version: str) -> None:
    with pytest.raises(RegistryError):
        Registry(tmp_path).write_version(name, version, _fill("x"))
    assert list(tmp_path.iterdir()) == []


def test_root_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABSHIP_REGISTRY", str(tmp_path / "elsewhere"))
    assert Registry().root == tmp_path / "elsewhere"


# ------------------------------------------------------------------------------------------
# the manifest of the session's exported version
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifest(exported) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return json.loads((exported.version_dir / "manifest.json").read_text())


def test_exported_version_layout(exported) -> None:  # type: ignore[no-untyped-def]
    # what a server reads, nothing else: the pipeline and the rows are evidence, kept apart
    names = {p.name for p in exported.version_dir.iterdir()}
    assert names == {"model.onnx", "manifest.json", "explainer.json"}  # explainer: deployable
    apart = exported.registry_root.parent / f"{exported.registry_root.name}-evidence"
    kept = apart / exported.name / exported.version_dir.name
    assert {p.name for p in kept.iterdir()} == {
        "pipeline.joblib",
        "train.parquet",
        "test.parquet",
        "training.json",
        "declaration.toml",
    }
    registry = Registry(exported.registry_root)
    assert registry.latest(exported.name) == exported.version_dir
    assert [p.name for p in exported.version_dir.parent.iterdir() if p.name.startswith(".")] == []


def test_manifest_validates_against_the_schema(manifest: dict[str, object]) -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(manifest)


def test_schema_rejects_a_broken_manifest(manifest: dict[str, object]) -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    broken = json.loads(json.dumps(manifest))
    del broken["threshold"]
    assert not validator.is_valid(broken)
    broken = json.loads(json.dumps(manifest))
    broken["onnx"]["sha256"] = "not a hash"
    assert not validator.is_valid(broken)


def test_manifest_hash_and_size_match_the_file(exported, manifest) -> None:  # type: ignore[no-untyped-def]
    data = (exported.version_dir / "model.onnx").read_bytes()
    assert manifest["onnx"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["onnx"]["bytes"] == len(data)


def test_manifest_content(exported, manifest) -> None:  # type: ignore[no-untyped-def]
    assert manifest["name"] == exported.name
    assert manifest["version"] == exported.version_dir.name
    assert manifest["threshold"]["value"] == exported.threshold
    assert [i["name"] for i in manifest["inputs"]] == exported.declaration.raw_columns
    assert set(manifest["libraries"]) >= {
        "python", "numpy", "pandas", "scikit-learn", "xgboost", "skl2onnx", "onnxmltools", "onnx", "onnxruntime",
    }  # fmt: skip
    os_input = next(i for i in manifest["inputs"] if i["name"] == "OperatingSystems")
    assert os_input["integer_codes"] is True
    assert all(c.isdigit() for c in os_input["categories"])
    rates = next(i for i in manifest["inputs"] if i["name"] == "BounceRates")
    assert 0.0 <= rates["range"]["min"] <= rates["range"]["max"] <= 1.0
    assert manifest["parity"]["status"] == "pending"


def test_embedded_manifest_equals_the_file_minus_its_own_hash(exported, manifest) -> None:  # type: ignore[no-untyped-def]
    model = onnx.load(exported.version_dir / "model.onnx")
    props = {p.key: p.value for p in model.metadata_props}
    embedded = json.loads(props[METADATA_KEY])
    expected = json.loads(json.dumps(manifest))
    for key in FILE_KEYS:
        expected["onnx"].pop(key)
    # sections written beside the graph after it is sealed (file-only, like parity's verdict)
    for section in ("report", "explanations"):
        expected.pop(section, None)
    assert set(expected.pop("evidence")["files"]) == {
        "pipeline.joblib",
        "train.parquet",
        "test.parquet",
        "training.json",
        "declaration.toml",
    }
    assert embedded == expected
    assert embedded == embedded_copy(expected)
    assert not set(FILE_KEYS) & set(embedded["onnx"])
    assert model.producer_name == "tabship"
    assert model.model_version == int(manifest["version"][:8] + manifest["version"][9:15])


def test_models_command_lists_versions_parity_and_latest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tabship.cli.main import main

    registry = Registry(tmp_path)
    for status in ("passed", "failed"):
        version = registry.new_version_id("demo", "0" * 64)

        def fill(folder: Path, status: str = status) -> None:
            (folder / "manifest.json").write_text(json.dumps({"parity": {"status": status}}))

        registry.write_version("demo", version, fill)
    assert main(["models", "--registry", str(tmp_path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["models"]
    assert [m["name"] for m in listed] == ["demo"]
    versions = listed[0]["versions"]
    assert [v["parity"] for v in versions] == ["passed", "failed"]
    assert listed[0]["latest"] == versions[-1]["version"] == registry.versions("demo")[-1]
    assert main(["models", "--registry", str(tmp_path)]) == 0
    assert "(latest)" in capsys.readouterr().out
