"""`tabship vectors VERSION -o FILE`: the gate's rows as conformance vectors for consumers in any
language (JSON Lines, docs/contract.md "Conformance vectors").

Line 1 describes the model, the runtime that computed the expectations and the bar; every other
line is one row as a JSON client sends it, with either what the graph returns for it (float32
probabilities as bit patterns and decimals, label, decision, and the reference pipeline's
probability) or, for a row the server refuses, every (column, reason code) it refuses it for.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from tabship.contract import rules
from tabship.contract.manifest import DECISION, LABEL, PROBABILITIES
from tabship.contract.target import target_of
from tabship.parity_tests.compare import BAR_MAX_ABS_DP
from tabship.parity_tests.gate import (
    GateRun,
    NotAVersion,
    check_parity,
    load_gate_inputs,
    session_for_gate,
)
from tabship.parity_tests.generated import DEFAULT_ROWS as DEFAULT_GENERATED_ROWS
from tabship.runtime.model.schema import InputSchema
from tabship.training import evidence

FORMAT = "tabship.vectors"
FORMAT_VERSION = 1
SETS = ("test", "boundary", "hostile", "generated")


# A problem carries the server's words; the vectors carry the code a program matches on.
reason_code = rules.reason_code


def json_row(record: dict[str, Any]) -> dict[str, Any] | None:
    """A raw row as a JSON client would send it (NaN -> null); None when JSON cannot carry a
    value (infinities)."""
    row = {}
    for key, value in record.items():
        if isinstance(value, np.generic):
            value = value.item()
        if value is None or (isinstance(value, float) and math.isnan(value)):
            value = None
        elif isinstance(value, float) and not math.isfinite(value):
            return None
        row[key] = value
    return row


def float32_bits(values: np.ndarray) -> list[str]:
    return [f"{bits:08x}" for bits in np.asarray(values, dtype=np.float32).view(np.uint32)]


def describe_options(options: ort.SessionOptions) -> dict[str, Any]:
    return {
        "intra_op_num_threads": options.intra_op_num_threads,
        "inter_op_num_threads": options.inter_op_num_threads,
        "execution_mode": options.execution_mode.name,
        "graph_optimization_level": options.graph_optimization_level.name,
        "execution_provider": "CPUExecutionProvider",
    }


def vector_lines(gate: GateRun, manifest: dict[str, Any], model_bytes: bytes) -> Iterator[str]:
    session, options = session_for_gate(model_bytes)
    schema = InputSchema(manifest["inputs"])
    body: list[str] = []
    counts: dict[str, dict[str, int]] = {}
    for name in SETS:
        frame, reference = gate.rows[name], gate.references[name]
        rows, kept = [], []
        for index, record in enumerate(frame.to_dict("records")):
            row = json_row(record)
            if row is not None:
                rows.append(row)
                kept.append(index)
        masked = schema.mask_rows(rows)
        refusals: dict[int, list[dict[str, str | None]]] = {}
        for problem in masked.problems:
            assert problem.row is not None
            refusals.setdefault(problem.row, []).append(
                {"column": problem.column, "code": reason_code(problem.reason)}
            )
        outputs = (
            session.run([PROBABILITIES, LABEL, DECISION], masked.feeds) if masked.n_good else None
        )
        good = 0
        for position, (row, index) in enumerate(zip(rows, kept, strict=True)):
            line: dict[str, Any] = {"set": name, "index": index, "row": row}
            if position in refusals:
                line["refused"] = refusals[position]
            else:
                assert outputs is not None
                probabilities, labels, decisions = (output[good] for output in outputs)
                good += 1
                expected_reference = np.asarray(reference[index], dtype=np.float64)
                decision = decisions.item() if isinstance(decisions, np.generic) else decisions
                line["expected"] = {
                    "probabilities": [float(p) for p in probabilities],
                    "bits": float32_bits(probabilities),
                    "label": int(labels),
                    "decision": decision if isinstance(decision, str) else int(decision),
                    "reference": expected_reference.tolist(),
                }
            body.append(json.dumps(line, ensure_ascii=True, allow_nan=False))
        counts[name] = {
            "rows": len(rows),
            "scored": good,
            "refused": len(refusals),
            "not_json": len(frame) - len(rows),  # infinities: no JSON client can send them
        }
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": {
            "name": manifest["name"],
            "version": manifest["version"],
            "sha256": manifest["onnx"]["sha256"],
        },
        "target": target_of(manifest).describe(),
        "computed_by": {
            "onnxruntime": ort.__version__,
            "session_options": describe_options(options),
        },
        "bar": {"max_abs_dp": BAR_MAX_ABS_DP, "flips": 0},
        "sets": counts,
        "lines": len(body),
    }
    yield json.dumps(header, ensure_ascii=True, allow_nan=False)
    yield from body


def write_vectors(
    folder: Path,
    out: Path,
    *,
    generated: int = DEFAULT_GENERATED_ROWS,
    evidence_root: str | None = None,
    allow_legacy: bool = False,
) -> dict[str, Any]:
    """Runs the gate in memory on a version and writes its vectors once (never over a file).
    The evidence (pipeline and rows) is read from `evidence_root`, checked against the manifest."""
    if out.exists():
        raise FileExistsError(f"{out} exists: vectors are never overwritten")
    inputs = load_gate_inputs(folder, evidence_root, allow_legacy=allow_legacy)
    gate = check_parity(
        inputs.pipeline,
        inputs.model_bytes,
        inputs.manifest,
        inputs.reference_data,
        generated=generated,
        explainer=inputs.explainer,
    )
    if not gate.passed:
        failed = [result.name for result in gate.results if not result.passed]
        raise GateFailed(f"{folder}: the parity gate fails on {failed}: no vectors for it")
    lines = vector_lines(gate, inputs.manifest, inputs.model_bytes)
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            header = next(lines)
            handle.write(header + "\n")
            for line in lines:
                handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, out)  # fails if `out` appeared meanwhile: never overwritten
    finally:
        temporary.unlink(missing_ok=True)
    description: dict[str, Any] = json.loads(header)
    return description


class GateFailed(RuntimeError):
    pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", help="a version directory (models/<name>/<version>)")
    parser.add_argument("-o", "--output", required=True, help="the JSON Lines file to write")
    parser.add_argument(
        "--generated-rows",
        type=int,
        default=DEFAULT_GENERATED_ROWS,
        help=f"rows in the generated set (default {DEFAULT_GENERATED_ROWS})",
    )
    evidence.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.generated_rows < 0:
        print("tabship vectors: --generated-rows must be 0 or more", file=sys.stderr)
        return 2
    try:
        header = write_vectors(
            Path(args.model_dir),
            Path(args.output),
            generated=args.generated_rows,
            evidence_root=args.evidence,
            allow_legacy=args.trust_legacy_evidence,
        )
    except (NotAVersion, FileExistsError) as error:
        print(f"tabship vectors: {error}", file=sys.stderr)
        return 2
    except GateFailed as error:
        print(f"tabship vectors: {error}", file=sys.stderr)
        return 1
    sets = ", ".join(
        f"{name} {c['scored']} scored + {c['refused']} refused"
        for name, c in header["sets"].items()
    )
    print(
        f"vectors: {header['model']['name']} {header['model']['version']} -> {args.output} ({sets})"
    )
    return 0
