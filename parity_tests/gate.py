"""`tabship parity MODEL_DIR`: the release gate. The ONNX graph must compute what the reference
pipeline computes on every row set, or the version is not released."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd

from tabship.contract.errors import ModelRefused
from tabship.contract.explanations import EXPLAINER_FILE, SECTION
from tabship.contract.manifest import MANIFEST_FILE, MODEL_FILE, check_manifest
from tabship.contract.target import Target, target_of
from tabship.parity_tests import contributions as explained
from tabship.parity_tests.compare import BAR_MAX_ABS_DP, SetResult, compare, feeds_for
from tabship.parity_tests.generated import DEFAULT_ROWS as DEFAULT_GENERATED_ROWS
from tabship.parity_tests.generated import generated_rows
from tabship.parity_tests.rows import boundary_rows, hostile_rows, split_counts_per_class
from tabship.parity_tests.tree_inputs import compare_tree_inputs, tree_input_session
from tabship.runtime.model.schema import InputSchema
from tabship.runtime.model.session import session_options
from tabship.training import evidence

REPORT_FILE = "parity_report.json"
BOUNDARY_BASE_ROWS = 2


@dataclass
class GateRun:
    results: list[SetResult]
    rows: dict[str, pd.DataFrame]  # the raw rows of each set (for fixtures)
    references: dict[str, np.ndarray]  # the reference P(positive) of each set
    details: dict[str, Any]
    target: Target  # the manifest's target (its table headings, its flip counts)
    # the contributions sets (empty for a version without explanations)
    contributions: list[explained.ContributionsResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results) and all(r.passed for r in self.contributions)


def session_for_gate(model_bytes: bytes) -> tuple[ort.InferenceSession, ort.SessionOptions]:
    # The very options serving and batch scoring use: with 2+ intra-op threads a row's
    # probability can move by one ulp with the batch size, so the gate must not differ.
    options = session_options(1)
    session = ort.InferenceSession(
        model_bytes, sess_options=options, providers=["CPUExecutionProvider"]
    )
    return session, options


def _session(model_bytes: bytes) -> ort.InferenceSession:
    return session_for_gate(model_bytes)[0]


def _failure(error: BaseException) -> str:
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first}"[:500]


def check_parity(
    pipeline: Any,
    model_bytes: bytes,
    manifest: dict[str, Any],
    reference_data: dict[str, Any],
    *,
    generated: int = DEFAULT_GENERATED_ROWS,
    explainer: bytes | None = None,
) -> GateRun:
    """Every set is built and compared on its own: a set that cannot be built or scored is
    reported FAILED with the reason instead of ending the gate. A manifest with explanations
    adds the contributions sets, on `explainer` (explainer.json's bytes)."""
    session = _session(model_bytes)
    trees = tree_input_session(model_bytes)
    target = target_of(manifest)
    classes = target.classes
    test, train = reference_data["test_frame"], reference_data["train_frame"]
    inputs = manifest["inputs"]
    schema = InputSchema(inputs)
    details: dict[str, Any] = {}

    def boundary() -> tuple[pd.DataFrame, str | None]:
        probes = boundary_rows(pipeline, test.head(BOUNDARY_BASE_ROWS))
        details["boundary_rows_per_feature"] = probes.per_feature
        if classes:
            details["boundary_splits_per_class"] = split_counts_per_class(pipeline, len(classes))
        details["boundary_thresholds"] = {"total": probes.thresholds, "probed": probes.probed}
        return probes.rows, probes.note

    builders: dict[str, Callable[[], tuple[pd.DataFrame, str | None]]] = {
        "test": lambda: (test, None),
        "train": lambda: (train, None),
        "boundary": boundary,
        "hostile": lambda: (hostile_rows(test, inputs), None),
        "generated": lambda: (generated_rows(inputs, train, rows=generated), None),
    }
    results, rows, references = [], {}, {}
    # each set's rows the model's own input rules accept: what the contributions are checked on
    accepted: dict[str, pd.DataFrame] = {}
    seconds: dict[str, dict[str, float]] = {}
    details["seconds"] = seconds
    for name, build in builders.items():
        started = time.perf_counter()
        try:
            frame, note = build()
            built = time.perf_counter()
            refused = refused_rows(schema, session, frame)
            kept = frame[~refused]
            accepted[name] = kept
            result, scored = compare(name, pipeline, session, kept, target)
            reference = _spread(scored, refused)
            if result.worst_row is not None:
                result = replace(result, worst_row=int(np.flatnonzero(~refused)[result.worst_row]))
            result = replace(result, refused=int(refused.sum()))
            if trees is not None and len(kept):
                found = compare_tree_inputs(pipeline, trees, kept)
                result = replace(
                    result, tree_input_cells=found.cells, tree_input_column=found.column
                )
        except Exception as error:  # any failure is this set's verdict, not a crash
            results.append(SetResult.broken(name, _failure(error)))
            continue
        finally:
            seconds[name] = {"total": round(time.perf_counter() - started, 3)}
        seconds[name]["build"] = round(built - started, 3)
        results.append(replace(result, note=note))
        rows[name], references[name] = frame, reference
    run = GateRun(results, rows, references, details, target)
    if SECTION in manifest:
        run.contributions = _contributions(
            pipeline, model_bytes, manifest, explainer, run, accepted
        )
    return run


def _contributions(
    pipeline: Any,
    model_bytes: bytes,
    manifest: dict[str, Any],
    explainer: bytes | None,
    run: GateRun,
    accepted: dict[str, pd.DataFrame],
) -> list[explained.ContributionsResult]:
    broken = explained.ContributionsResult.broken
    if explainer is None:
        return [broken("explainer", f"{EXPLAINER_FILE} missing")]
    try:
        served = explained.Served(model_bytes, explainer, manifest[SECTION])
    except Exception as error:  # the explainer's refusal is this set's verdict
        return [broken("explainer", _failure(error))]
    results = []
    seconds = run.details["seconds"]
    for name in explained.SETS:
        started = time.perf_counter()
        if name not in accepted:
            results.append(broken(name, "the set's rows could not be built"))
            continue
        try:
            # rows the model's own rules refuse are refused by the server: nothing to explain
            rows = accepted[name].reset_index(drop=True)
            results.append(explained.compare_contributions(name, pipeline, served, rows))
        except Exception as error:
            results.append(broken(name, _failure(error)))
        seconds[f"contributions:{name}"] = {"total": round(time.perf_counter() - started, 3)}
    return results


def refused_rows(
    schema: InputSchema, session: ort.InferenceSession, frame: pd.DataFrame
) -> np.ndarray:
    """Rows the validation engine refuses on an input that carries the model's own rules
    (not nullable, a domain, unknown categories refused), judged on the values the graph would
    be fed: every consumer refuses them and scikit-learn may not score them (a too long or
    unknown category, an infinite number read as missing), so they are expected refusals.
    Rows refused on other inputs are still compared, fed as the gate feeds them."""
    refused = np.zeros(len(frame), dtype=bool)
    ruled = {c.name for c in schema.columns if not c.nullable or c.has_rules}
    if not len(frame) or not ruled:
        return refused
    feeds = feeds_for(session, frame)
    masked = schema.mask_columns({k: v.reshape(-1) for k, v in feeds.items()}, len(frame))
    for problem in masked.problems:
        if problem.row is not None and problem.column in ruled:
            refused[problem.row] = True
    return refused


def _spread(scored: np.ndarray, refused: np.ndarray) -> np.ndarray:
    """The reference outputs per row of the whole set, NaN for the refused rows."""
    out = np.full((len(refused), *scored.shape[1:]), np.nan)
    out[~refused] = scored
    return out


def report(run: GateRun, manifest: dict[str, Any], onnx_sha256: str) -> dict[str, Any]:
    outcome = _report(run, manifest, onnx_sha256)
    if SECTION in manifest:
        outcome["contributions"] = {
            "bar": explained.bar(),
            "sets": [r.as_dict() for r in run.contributions],
        }
    return outcome


def _report(run: GateRun, manifest: dict[str, Any], onnx_sha256: str) -> dict[str, Any]:
    fields = target_of(manifest).report_fields()
    bar = {"max_abs_dp": BAR_MAX_ABS_DP, "flips": 0, "threshold_flips": 0}
    return {
        "status": "passed" if run.passed else "failed",
        "checked_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "onnx_sha256": onnx_sha256,
        "model": {"name": manifest["name"], "version": manifest["version"]},
        "bar": {**bar, **fields.pop("bar_extra", {})},
        **fields,  # the target checked at: threshold, or classes
        "sets": [result.as_dict() for result in run.results],
        **run.details,
    }


def format_table(
    results: list[SetResult],
    seconds: dict[str, dict[str, float]] | None = None,
    *,
    target: Target,
) -> str:
    seconds = seconds or {}
    first, second = target.flip_names

    def took(name: str) -> str:
        return f"{seconds[name]['total']:>7.1f}s" if name in seconds else f"{'-':>8}"

    lines = [f"{'set':<10}{'rows':>9}{'max |dP|':>12}{first:>11}{second:>11}{'time':>8}  result"]
    for r in results:
        if r.error is not None:
            lines.append(
                f"{r.name:<10}{'-':>9}{'-':>12}{'-':>11}{'-':>11}{took(r.name)}  FAIL: {r.error}"
            )
            continue
        lines.append(
            f"{r.name:<10}{r.rows:>9}{r.max_abs_dp:>12.3g}{r.flips:>11}{r.threshold_flips:>11}"
            f"{took(r.name)}  {'ok' if r.passed else 'FAIL'}"
        )
        if r.note:
            lines.append(f"{'':<10}{r.note}")
        if r.refused:
            lines.append(
                f"{'':<10}{r.refused} more row(s) refused on inputs with the model's own rules (nullable, "
                "domain, unknown categories), as by every consumer: not compared"
            )
        if r.tree_input_cells:
            lines.append(
                f"{'':<10}tree inputs: {r.tree_input_cells} float32 cell(s) differ from the "
                f"pipeline's, most in column {r.tree_input_column!r}"
            )
    return "\n".join(lines)


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    with temporary.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", help="a version directory (models/<name>/<version>)")
    parser.add_argument(
        "--generated-rows",
        type=int,
        default=DEFAULT_GENERATED_ROWS,
        help=f"rows in the generated set (default {DEFAULT_GENERATED_ROWS})",
    )
    parser.add_argument(
        "--fixture",
        help="also write the rows and reference outputs as a JSON "
        "fixture for other languages' consumers (clients/node)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    evidence.add_arguments(parser)


class NotAVersion(ValueError):
    pass


@dataclass
class GateInputs:
    """What the gate reads from a version on disk: the verified graph and its evidence."""

    manifest: dict[str, Any]
    model_bytes: bytes
    sha256: str
    pipeline: Any
    reference_data: dict[str, Any]
    explainer: bytes | None  # explainer.json when the manifest names one, hash-checked


def load_gate_inputs(
    folder: Path, evidence_root: str | None = None, *, allow_legacy: bool = False
) -> GateInputs:
    """Reads a version directory for the gate (and for `tabship vectors`): the manifest, the
    graph checked against its SHA-256, and the evidence (the reference pipeline and the rows it
    was judged on, from `evidence_root`), every file checked against the manifest first."""
    needed = [MANIFEST_FILE, MODEL_FILE]
    missing = [name for name in needed if not (folder / name).is_file()]
    if missing:
        raise NotAVersion(f"{folder} is not a version directory (missing {missing})")
    try:
        where = folder / MANIFEST_FILE
        manifest = check_manifest(json.loads(where.read_text()), str(where))
        recorded = manifest["onnx"]["sha256"]
    except (OSError, ValueError, KeyError, TypeError, ModelRefused) as error:
        raise NotAVersion(f"{folder / MANIFEST_FILE}: unreadable manifest ({error})") from None
    model_bytes = (folder / MODEL_FILE).read_bytes()
    sha = hashlib.sha256(model_bytes).hexdigest()
    if sha != recorded:
        raise NotAVersion(f"{folder / MODEL_FILE} does not match the manifest's SHA-256")
    explainer = _explainer(folder, manifest)  # the deployable files first, then the evidence
    try:
        found = evidence.read(folder, evidence_root, manifest=manifest, allow_legacy=allow_legacy)
    except evidence.EvidenceError as error:
        raise NotAVersion(str(error)) from None
    return GateInputs(manifest, model_bytes, sha, found.pipeline, found.reference_data, explainer)


def gate_version(
    folder: Path,
    *,
    generated: int = DEFAULT_GENERATED_ROWS,
    fixture: Path | None = None,
    evidence_root: str | None = None,
    allow_legacy: bool = False,
) -> tuple[GateRun, dict[str, Any]]:
    """Runs the gate on a version directory (its evidence read from `evidence_root`, every
    file checked against the manifest first) and records the result beside the graph."""
    if os.path.lexists(folder / "manifest.sig"):
        # the gate rewrites manifest.json, which would void the signature of a released version
        raise NotAVersion(
            f"{folder} is signed (manifest.sig): a released version is immutable, and "
            "re-running the gate would change its manifest.json"
        )
    inputs = load_gate_inputs(folder, evidence_root, allow_legacy=allow_legacy)
    manifest, sha = inputs.manifest, inputs.sha256
    gate = check_parity(
        inputs.pipeline,
        inputs.model_bytes,
        manifest,
        inputs.reference_data,
        generated=generated,
        explainer=inputs.explainer,
    )
    outcome = report(gate, manifest, sha)
    # The graph is never rewritten (its hash holds); the manifest's parity section records
    # the result, and the full report sits beside it. (A version `tabship train` gates is
    # written once with its verdict: tabship/release/flow.py.)
    _write_atomically(folder / REPORT_FILE, report_text(outcome))
    manifest["parity"] = verdict(outcome)
    _write_atomically(folder / MANIFEST_FILE, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    if fixture is not None:
        text = json.dumps(consumer_fixture(gate, manifest), allow_nan=False) + "\n"
        _write_atomically(fixture, text)
    return gate, outcome


def _explainer(folder: Path, manifest: dict[str, Any]) -> bytes | None:
    """explainer.json, checked against the manifest as the graph is (None: no explanations)."""
    section = manifest.get(SECTION)
    if section is None:
        return None
    path = folder / EXPLAINER_FILE
    if not path.is_file():
        raise NotAVersion(f"{path} is missing, and the manifest's explanations name it")
    data = path.read_bytes()
    if not isinstance(section, dict) or hashlib.sha256(data).hexdigest() != section.get("sha256"):
        raise NotAVersion(f"{path} does not match the manifest's explanations SHA-256")
    return data


def verdict(outcome: dict[str, Any]) -> dict[str, Any]:
    """The manifest's parity section for a gate report."""
    keys = ("status", "checked_at", "bar", "sets", "contributions")
    return {k: outcome[k] for k in keys if k in outcome}


def report_text(outcome: dict[str, Any]) -> str:
    return json.dumps(outcome, indent=2) + "\n"


def print_outcome(folder: Path, gate: GateRun, outcome: dict[str, Any]) -> None:
    model = outcome["model"]
    print(f"parity gate: {model['name']} {model['version']}")
    print(format_table(gate.results, gate.details.get("seconds"), target=gate.target))
    if gate.contributions:
        print(explained.format_contributions(gate.contributions))
    bars = f"bar max |dP| <= {BAR_MAX_ABS_DP:g} and no flips on every set"
    if gate.contributions:
        bars += (
            f", max |dphi|, |dbias| and efficiency error <= {explained.BAR_MAX_ABS_DPHI:g} "
            "and the top 3 columns in order"
        )
    print(f"{outcome['status'].upper()}: {bars}; report {folder / REPORT_FILE}")


def run(args: argparse.Namespace) -> int:
    folder = Path(args.model_dir)
    try:
        gate, outcome = gate_version(
            folder,
            generated=args.generated_rows,
            fixture=Path(args.fixture) if args.fixture else None,
            evidence_root=args.evidence,
            allow_legacy=args.trust_legacy_evidence,
        )
    except NotAVersion as error:
        print(f"tabship parity: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(outcome, indent=2))
    else:
        print_outcome(folder, gate, outcome)
    return 0 if gate.passed else 1


def _json_value(value: Any) -> tuple[bool, Any]:
    """A raw value as a JSON client would send it; (False, _) for values JSON cannot carry.
    Whether the server accepts it is the validation engine's call (consumer_fixture)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True, None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return False, None
    return True, value


def consumer_fixture(gate: GateRun, manifest: dict[str, Any]) -> dict[str, Any]:
    """The rows the server accepts (by the same engine) with their reference outputs; rows it
    answers 422 for are not part of the cross-language contract."""
    schema = InputSchema(manifest["inputs"])
    target = target_of(manifest)
    sets = []
    for name in ("test", "boundary", "hostile"):
        frame, reference = gate.rows[name], gate.references[name]
        rows, indices, kept = [], [], []
        for index, record in enumerate(frame.to_dict("records")):
            converted = {k: _json_value(v) for k, v in record.items()}
            if all(ok for ok, _ in converted.values()):
                rows.append({k: v for k, (_, v) in converted.items()})
                indices.append(index)
        good = schema.mask_rows(rows).good.tolist()
        rows = [row for row, ok in zip(rows, good, strict=True) if ok]
        for index, ok in zip(indices, good, strict=True):
            if ok:
                kept.append(index)
        sets.append({"name": name, "rows": rows, "expected": target.expected(reference[kept])})
    return {
        "model": {
            "name": manifest["name"],
            "version": manifest["version"],
            "sha256": manifest["onnx"]["sha256"],
        },
        "tolerance": BAR_MAX_ABS_DP,
        **target.fixture_fields(),
        "sets": sets,
    }
