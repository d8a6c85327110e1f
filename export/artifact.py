"""Writing one released version: graph + manifest + report, atomically, its release evidence
(reference pipeline, rows, record, declaration) apart under the manifest's hashes
(training/evidence.py)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import onnx

from tabship.contract.drift import DRIFT_KEY
from tabship.contract.explanations import EXPLAINER_FILE, SECTION
from tabship.contract.manifest import MANIFEST_FILE, MODEL_FILE
from tabship.export import manifest as manifests
from tabship.export.convert import (
    ARGMAX_TIES,
    MIN_ONNXRUNTIME,
    OPSETS,
    OUTPUTS,
    convert_pipeline,
    multiclass_outputs,
)
from tabship.export.explainer import explainer_bytes, explanations_record
from tabship.export.live_reference import drift_reference, mark_sensitive
from tabship.export.registry import ObjectRegistry, Registry
from tabship.export.standard.own_graph import convert_own
from tabship.training import evidence
from tabship.training.declaration import Declaration
from tabship.training.own.reference import raw_columns

if TYPE_CHECKING:
    from tabship.training.train import TrainedVariant


@dataclass
class ReleaseCandidate:
    """Everything an export needs, whether fresh from training or reloaded from a version."""

    name: str
    variant: str
    declaration: Declaration
    pipeline: Any
    record: dict[str, Any]  # threshold, metrics, rows, data, best_params (JSON-able)
    reference_data: dict[str, Any]  # train/test frames and targets, for the parity gate
    report_dir: Path | None = None

    @classmethod
    def from_trained(
        cls,
        trained: TrainedVariant,
        data_info: dict[str, Any],
        declaration: Declaration,
        *,
        name: str | None = None,
        report_dir: Path | None = None,
    ) -> ReleaseCandidate:
        """The candidate of a variant this run just trained (`declaration`: the one the run
        loaded, before the variant's columns were dropped; it names the model)."""
        return cls(
            name=name or f"{declaration.name}-{trained.variant}",
            variant=trained.variant,
            declaration=trained.declaration,
            pipeline=trained.pipeline,
            record=training_record(trained, data_info, declaration),
            reference_data={
                "train_frame": trained.train_frame,
                "train_target": trained.train_target,
                "test_frame": trained.test_frame,
                "test_target": trained.test_target,
            },
            report_dir=report_dir,
        )


def training_record(
    trained: TrainedVariant, data_info: dict[str, Any], declaration: Declaration
) -> dict[str, Any]:
    if trained.multiclass:
        return {
            "declaration": declaration.path.name,
            "data": {**data_info, "rows": trained.rows},
            "metrics": trained.metrics,
            "metrics_per_class": trained.per_class,
            "target": {"kind": "multiclass", "classes": list(trained.classes)},
            "best_params": trained.best_params,
        }
    assert trained.threshold is not None  # a binary variant always has one
    return {
        "declaration": declaration.path.name,
        "data": {**data_info, "rows": trained.rows},
        "metrics": trained.metrics,
        "threshold": trained.threshold.as_dict(),
        "best_params": trained.best_params,
    }


def graph_bytes(model: onnx.ModelProto) -> bytes:
    """The graph without metadata: equal for two exports of the same fitted pipeline, and the
    same before and after describe_model() (which sets the fields cleared here)."""
    bare = onnx.ModelProto()
    bare.CopyFrom(model)
    del bare.metadata_props[:]
    bare.model_version = 0
    bare.doc_string = ""
    bare.producer_name = ""
    bare.producer_version = ""
    return bare.SerializeToString(deterministic=True)


def candidate_classes(candidate: ReleaseCandidate) -> list[str] | None:
    """The class names of a multiclass candidate (probability-column order), else None."""
    target = candidate.record.get("target")
    return list(target["classes"]) if target and target.get("kind") == "multiclass" else None


def convert_candidate(candidate: ReleaseCandidate) -> onnx.ModelProto:
    classes = candidate_classes(candidate)
    if raw_columns(candidate.pipeline) is not None:  # a user's own fitted pipeline
        threshold = None if classes else candidate.record["threshold"]["value"]
        return convert_own(candidate.pipeline, threshold, classes)
    if classes:
        return convert_pipeline(candidate.pipeline, candidate.declaration, None, classes)
    threshold = candidate.record["threshold"]["value"]
    return convert_pipeline(candidate.pipeline, candidate.declaration, threshold)


def describe_model(
    candidate: ReleaseCandidate,
    model: onnx.ModelProto,
    version: str,
    created_at: datetime,
    git: dict[str, Any],
) -> dict[str, Any]:
    """Fills the manifest and embeds it (minus the file's own hash) in the model."""
    classes = candidate_classes(candidate)
    graph_sha = manifests.sha256_bytes(graph_bytes(model))
    train_frame = candidate.reference_data["train_frame"]
    inputs = manifests.input_schema(candidate.pipeline, candidate.declaration, train_frame)
    mark_sensitive(inputs, candidate.declaration)
    manifest = {
        "manifest_version": 1,
        "name": candidate.name,
        "version": version,
        "created_at": created_at.isoformat().replace("+00:00", "Z"),
        "producer": {"name": "tabship", "version": metadata.version("tabship")},
        "git": git,
        "libraries": manifests.library_versions(),
        "dataset": {
            "name": candidate.declaration.name,
            "declaration": candidate.record.get("declaration", candidate.declaration.path.name),
            "declaration_sha256": candidate.declaration.sha256,
            "target": candidate.declaration.target,
        },
        "variant": {
            "name": candidate.variant,
            "excluded_columns": list(candidate.declaration.variants[candidate.variant]),
        },
        "data": candidate.record["data"],
        "metrics": candidate.record["metrics"],
        "inputs": inputs,
        "outputs": multiclass_outputs(classes) if classes else OUTPUTS,
        "onnx": {
            "file": MODEL_FILE,
            "graph_sha256": graph_sha,
            "opsets": dict(OPSETS),
            "ir_version": model.ir_version,
            "min_onnxruntime": MIN_ONNXRUNTIME,
        },
        "parity": {"status": "pending"},
        DRIFT_KEY: drift_reference(inputs, train_frame),
    }
    if classes:
        # Schema version 2 adds the multiclass target; a binary manifest stays version 1,
        # field for field as before.
        manifest["manifest_version"] = 2
        manifest["target"] = {
            "kind": "multiclass",
            "classes": classes,
            "decision": "argmax",
            "ties": ARGMAX_TIES,
        }
        manifest["metrics_per_class"] = candidate.record["metrics_per_class"]
    else:
        manifest["threshold"] = candidate.record["threshold"]
    model.producer_name = "tabship"
    model.producer_version = manifest["producer"]["version"]
    model.model_version = int(version[:8] + version[9:15])  # YYYYMMDDHHMMSS
    model.doc_string = f"{candidate.name} {version}: see metadata_props['{manifests.METADATA_KEY}']"
    onnx.helper.set_model_props(
        model, {manifests.METADATA_KEY: manifests.dumps(manifests.embedded_copy(manifest))}
    )
    onnx.checker.check_model(model, full_check=True)
    return manifest


@dataclass
class StagedVersion:
    """A version converted and described but not yet written: its id, graph bytes and
    manifest (parity pending until a gate records its verdict in it)."""

    candidate: ReleaseCandidate
    version: str
    model: bytes
    manifest: dict[str, Any]
    evidence: dict[str, bytes]  # file name -> bytes, hashed in manifest["evidence"]
    explainer: bytes | None = None  # explainer.json: covers for the served explanations


def stage_candidate(
    candidate: ReleaseCandidate, registry: Registry | ObjectRegistry
) -> StagedVersion:
    created_at = datetime.now(UTC)
    model = convert_candidate(candidate)
    version = registry.new_version_id(
        candidate.name, manifests.sha256_bytes(graph_bytes(model)), created_at
    )
    manifest = describe_model(candidate, model, version, created_at, manifests.git_state())
    if candidate.report_dir is not None:
        # file-only, like parity: the report sits beside the graph, not inside it
        manifest["report"] = manifests.report_record(candidate.report_dir)
    # file-only too: what TreeSHAP needs beyond the graph, hash-checked like it
    explainer = explainer_bytes(candidate.pipeline, model)
    manifest[SECTION] = explanations_record(
        candidate.pipeline, candidate.declaration, explainer, manifests.sha256_bytes(explainer)
    )
    record = {**candidate.record, "variant": candidate.variant}
    files = evidence.pack(
        candidate.pipeline, candidate.reference_data, record, candidate.declaration.path
    )
    # file-only too: the signature over manifest.json covers the evidence through these hashes
    manifest["evidence"] = evidence.manifest_record(files)
    data = model.SerializeToString(deterministic=True)
    manifest["onnx"]["sha256"] = manifests.sha256_bytes(data)
    manifest["onnx"]["bytes"] = len(data)
    return StagedVersion(candidate, version, data, manifest, files, explainer)


def write_staged(
    staged: StagedVersion,
    registry: Registry | ObjectRegistry,
    extra_files: dict[str, str] | None = None,
) -> Path:
    """Writes the evidence under the registry's evidence root, then the version once,
    atomically (the registry renames a complete folder into place); `extra_files` (name ->
    text) go beside the graph, e.g. the gate's report. The version folder holds what a server
    reads and nothing else."""
    candidate = staged.candidate
    evidence.write(registry.evidence_root, candidate.name, staged.version, staged.evidence)

    def fill(folder: Path) -> None:
        (folder / MODEL_FILE).write_bytes(staged.model)
        (folder / MANIFEST_FILE).write_text(manifests.dumps(staged.manifest))
        if staged.explainer is not None:
            (folder / EXPLAINER_FILE).write_bytes(staged.explainer)
        if candidate.report_dir is not None:
            shutil.copytree(candidate.report_dir, folder / "report")
        for name, text in (extra_files or {}).items():
            (folder / name).write_text(text)

    return registry.write_version(candidate.name, staged.version, fill)


def export_candidate(candidate: ReleaseCandidate, registry: Registry | ObjectRegistry) -> Path:
    """An ungated export (parity pending: servers refuse it until `tabship parity` passes)."""
    return write_staged(stage_candidate(candidate, registry), registry)


def load_candidate(
    version_dir: Path,
    name: str | None = None,
    *,
    evidence_root: str | None = None,
    trusted_keys: tuple[str, ...] = (),
    allow_legacy: bool = False,
) -> ReleaseCandidate:
    """A released version's reference pipeline and training record, for a re-export: its
    evidence, every file checked against the manifest before it is read."""
    from tabship.training.declaration import load_declaration

    manifest = evidence.verified_manifest(version_dir, trusted_keys)
    found = evidence.read(version_dir, evidence_root, manifest=manifest, allow_legacy=allow_legacy)
    record = dict(found.record)
    variant = record.pop("variant")
    dropped = record.get("data", {}).get("dropped_empty_columns", [])
    declaration = load_declaration(found.declaration).dropping(dropped).for_variant(variant)
    report = version_dir / "report"
    return ReleaseCandidate(
        name=name or manifest["name"],
        variant=variant,
        declaration=declaration,
        pipeline=found.pipeline,
        record=record,
        reference_data=found.reference_data,
        report_dir=report if report.is_dir() else None,
    )
