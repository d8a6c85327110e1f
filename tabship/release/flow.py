"""One release: a candidate fresh from training is converted and described (staged), gated on
the pipeline this run holds in memory, and written once, its manifest carrying the verdict,
by the registry's atomic rename. Nothing of the version is read back from disk or rewritten."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabship.contract.manifest import check_manifest
from tabship.export import manifest as manifests
from tabship.export.artifact import ReleaseCandidate, StagedVersion, stage_candidate, write_staged
from tabship.export.registry import ObjectRegistry, Registry
from tabship.parity_tests.gate import (
    DEFAULT_GENERATED_ROWS,
    REPORT_FILE,
    GateRun,
    check_parity,
    report,
    report_text,
    verdict,
)


@dataclass
class Released:
    folder: Path  # the written version (for an object store: the local folder to publish)
    gate: GateRun | None  # None: written ungated (parity pending, servers refuse it)
    outcome: dict[str, Any] | None

    @property
    def passed(self) -> bool:
        return self.gate is not None and self.gate.passed


def gate_staged(
    staged: StagedVersion, *, generated: int = DEFAULT_GENERATED_ROWS
) -> tuple[GateRun, dict[str, Any]]:
    """The gate on the staged graph bytes and the in-memory pipeline and reference data. The
    manifest it reads is the one about to be written, parsed back from its JSON text and
    checked as `tabship parity DIR` reads it, so both gate exactly the same thing."""
    where = f"{staged.candidate.name} {staged.version} manifest"
    manifest = check_manifest(json.loads(manifests.dumps(staged.manifest)), where)
    candidate = staged.candidate
    run = check_parity(
        candidate.pipeline,
        staged.model,
        manifest,
        candidate.reference_data,
        generated=generated,
        explainer=staged.explainer,
    )
    return run, report(run, manifest, staged.manifest["onnx"]["sha256"])


def release_candidate(
    candidate: ReleaseCandidate,
    registry: Registry | ObjectRegistry,
    *,
    gate: bool = True,
    generated: int = DEFAULT_GENERATED_ROWS,
) -> Released:
    """Stage, gate (unless `gate` is False), write once. A version that fails the gate is
    written too, with its failed verdict (servers refuse it), as `tabship parity` records it."""
    staged = stage_candidate(candidate, registry)
    if not gate:
        return Released(write_staged(staged, registry), None, None)
    run, outcome = gate_staged(staged, generated=generated)
    staged.manifest["parity"] = verdict(outcome)
    folder = write_staged(staged, registry, {REPORT_FILE: report_text(outcome)})
    return Released(folder, run, outcome)
