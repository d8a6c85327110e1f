"""`tabship drift VERSION DATA`: the drift figures the server publishes (runtime/live/drift.py),
computed offline for a batch: DATA (CSV, Parquet or a folder of Parquet files, a capture folder
included) read in chunks and validated with the server's rules (rows the server would refuse
are left out and counted), every accepted row counted against the manifest's training
reference with the same code. Needs the batch extra (pyarrow) to read DATA."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tabship.contract.drift import DriftReference
from tabship.contract.errors import ModelRefused
from tabship.runtime.settings import Settings, SettingsError

CHUNK_ROWS = 65_536


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("version", help="model version directory (or any MODEL_URI)")
    parser.add_argument("data", help="CSV file, Parquet file or folder of Parquet files")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--max-psi",
        type=float,
        help="exit 1 when a column's PSI is above this (e.g. 0.25)",
    )


def _fail(message: str) -> int:
    print(f"tabship drift: {message}", file=sys.stderr)
    return 2


def drift_of_file(
    reference: DriftReference, inputs: list[dict[str, Any]], path: Path
) -> dict[str, Any]:
    """{"rows", "refused", "columns": figures} for every row of `path`."""
    from tabship.runtime.batch.chunks import open_input
    from tabship.runtime.batch.rejects import ChunkValidator

    validator = ChunkValidator(inputs)
    source = open_input(path, validator.names, CHUNK_ROWS)
    missing = validator.missing_required(source.columns)
    if missing:
        raise ValueError(f"{path}: columns the model requires are absent: {missing}")
    total = reference.empty()
    rows = refused = 0
    for batch in source.batches:
        result = validator.validate(batch)
        rows += result.n_rows
        refused += result.n_rows - result.n_good
        if result.n_good:
            for mine, more in zip(total, reference.count(result.feeds), strict=True):
                mine.add(more)
    return {
        "rows": rows,
        "refused_rows": refused,
        "training_rows": reference.rows,
        "columns": reference.figures(total),
    }


def _table(report: dict[str, Any]) -> str:
    def cell(value: float | None, rate: bool = False) -> str:
        if value is None:
            return "-"
        return f"{value:.2%}" if rate else f"{value:.4f}"

    lines = [
        f"{report['rows']} rows ({report['refused_rows']} refused by validation, not counted) "
        f"against {report['training_rows']} training rows",
        f"{'column':<28} {'PSI':>8} {'missing':>9} {'out of range':>13} {'unseen':>9}",
    ]
    for column, figures in report["columns"].items():
        lines.append(
            f"{column[:28]:<28} {cell(figures.get('psi')):>8} "
            f"{cell(figures.get('missing_rate'), True):>9} "
            f"{cell(figures.get('out_of_range_rate'), True):>13} "
            f"{cell(figures.get('unseen_rate'), True):>9}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from tabship.runtime.model.artifact import load_artifact

    try:
        settings = Settings.from_env(model_uri=args.version, allow_ungated=True)
        artifact = load_artifact(settings)
    except (SettingsError, ModelRefused) as error:
        return _fail(str(error))
    reference = DriftReference.from_manifest(artifact.manifest)
    if reference is None or not reference.columns:
        return _fail(
            f"{args.version}: the manifest has no drift reference (export the version again "
            "with this tabship)"
        )
    try:
        from tabship.runtime.batch.chunks import BatchError
    except ImportError as error:
        return _fail(f"reading DATA needs the batch extra ({error.name or error} is not installed)")
    try:
        report = drift_of_file(reference, list(artifact.manifest["inputs"]), Path(args.data))
    except (BatchError, ValueError) as error:
        return _fail(str(error))
    report = {"model": {"name": artifact.name, "version": artifact.version}, **report}
    print(json.dumps(report, indent=2) if args.json else _table(report))
    if args.max_psi is not None:
        over = [c for c, f in report["columns"].items() if (f.get("psi") or 0.0) > args.max_psi]
        if over:
            print(f"tabship drift: PSI above {args.max_psi} in {over}", file=sys.stderr)
            return 1
    return 0
