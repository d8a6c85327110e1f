"""`tabship train`: prepare the data, train every variant, write reports, then release each
variant through tabship/release/flow.py (export, gate in memory, write once), sign and publish."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tabship.training.declaration import DeclarationError, load_declaration


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tabship.training.source_args import add_source_arguments

    add_source_arguments(
        parser,
        data_help="SQLite/CSV/Parquet file (default: $TABSHIP_DATA, else "
        "the built-in data set, generated on first use)",
    )
    parser.add_argument(
        "--declaration",
        help="data-set declaration TOML (default: the built-in online-shoppers declaration; "
        "with --target, one inferred from --data and saved in each version directory)",
    )
    parser.add_argument(
        "--target",
        help="without --declaration: the target column of --data; a declaration is inferred "
        "as `tabship declare` would write it",
    )
    parser.add_argument("--positive", help="with --target: the target value that is positive")
    parser.add_argument(
        "--variants",
        default=None,
        help="comma-separated variants (default: every declared variant)",
    )
    parser.add_argument(
        "--search-iterations",
        type=int,
        default=8,
        help="random-search candidates per variant (default 8; try 40 for a bigger search)",
    )
    parser.add_argument(
        "--threshold-rule", default="max_f1", help="max_f1 (default) or min_precision:P"
    )
    parser.add_argument(
        "--registry",
        help="registry root: a folder or s3://bucket/prefix (default: $TABSHIP_REGISTRY or "
        "./models); an object-store version is published after its gate",
    )
    parser.add_argument(
        "--evidence",
        help="release evidence root (reference pipeline, train/test rows): a folder or "
        "s3://bucket/prefix, never inside the registry (default: beside it, <registry>-evidence)",
    )
    parser.add_argument(
        "--no-export",
        action="store_true",
        help="train and report only; write reports under --reports",
    )
    parser.add_argument(
        "--no-gate",
        action="store_true",
        help="export without running the parity gate (the version stays unreleased: "
        "servers refuse it)",
    )
    parser.add_argument("--reports", default="reports", help="report folder with --no-export")
    parser.add_argument(
        "--sign-key",
        help="Ed25519 private key (sign extra): each version that passes the gate is signed "
        "(manifest.sig, as `tabship sign` writes it) before it is published",
    )


def run(args: argparse.Namespace) -> int:
    from tabship.export.registry import RegistryError
    from tabship.training.data_sources import DataSourceError
    from tabship.training.evidence import EvidenceError
    from tabship.training.infer import InferenceError
    from tabship.training.prepare import PreparationError

    try:
        # An inferred declaration lives here until export copies it into the version's evidence.
        with tempfile.TemporaryDirectory(prefix="tabship-train-") as scratch:
            return _run(args, Path(scratch))
    except (
        DataSourceError,
        DeclarationError,
        PreparationError,
        InferenceError,
        RegistryError,
        EvidenceError,
    ) as error:
        print(f"tabship train: {error}", file=sys.stderr)
        return 2


def _inferred_declaration(read: Any, args: argparse.Namespace, scratch: Path) -> Any:
    from tabship.training.data_sources import resolve_source
    from tabship.training.infer import dataset_name, infer_declaration

    source = resolve_source(args.data)
    assert source is not None
    name = dataset_name(Path(source).stem)
    text = infer_declaration(
        read.frame,
        source=read.description,
        name=name,
        target=args.target,
        positive=args.positive,
        default_table=read.table,
    )
    path = scratch / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    print(
        f"declaration: inferred from {read.description} (target {args.target!r}); saved as "
        "declaration.toml in each version directory (`tabship declare` prints the same)"
    )
    return load_declaration(path)


def _run(args: argparse.Namespace, scratch: Path) -> int:
    from tabship.training.data_sources import resolve_source, table_sha256
    from tabship.training.evaluation import parse_rule
    from tabship.training.prepare import empty_columns, prepare
    from tabship.training.source_args import read_source
    from tabship.training.train import train_variant

    if args.search_iterations < 1:
        print("tabship train: --search-iterations must be at least 1", file=sys.stderr)
        return 2
    try:
        parse_rule(args.threshold_rule)  # before any work, not after the search
    except ValueError as error:
        print(f"tabship train: --threshold-rule: {error}", file=sys.stderr)
        return 2
    if args.target is not None and args.declaration is not None:
        print("tabship train: give --declaration or --target, not both", file=sys.stderr)
        return 2
    if args.positive is not None and args.target is None:
        print("tabship train: --positive goes with --target", file=sys.stderr)
        return 2
    if args.target is not None:
        if resolve_source(args.data) is None:
            print("tabship train: --target needs --data (the table to infer from)", file=sys.stderr)
            return 2
        read = read_source(args, default_table=None)
        declaration = _inferred_declaration(read, args, scratch)
    else:
        declaration = load_declaration(args.declaration)
        read = None
    if declaration.multiclass and args.threshold_rule != "max_f1":
        print(
            "tabship train: --threshold-rule applies to a binary target; a multiclass target "
            f"({declaration.target!r}) is decided by the arg-max",
            file=sys.stderr,
        )
        return 2
    variants = args.variants.split(",") if args.variants else list(declaration.variants)
    for variant in variants:
        declaration.for_variant(variant)  # unknown names fail before any work
    sign_key = None
    if args.sign_key is not None:
        if args.no_export or args.no_gate:
            print(
                "tabship train: --sign-key signs released versions; it cannot go with "
                "--no-export or --no-gate",
                file=sys.stderr,
            )
            return 2
        from tabship.contract.errors import ModelRefused
        from tabship.contract.signature import load_private_key

        try:
            sign_key = load_private_key(Path(args.sign_key))  # before any work
        except ModelRefused as error:
            print(f"tabship train: --sign-key: {error}", file=sys.stderr)
            return 2
    registry = None
    if not args.no_export:
        from tabship.export.registry import open_registry

        registry = open_registry(args.registry, args.evidence)
        _ = registry.evidence_root  # a registry without a place for evidence fails now
        registry.models()  # an unreachable or unconfigured store fails before any work

    if read is None:
        read = read_source(args, default_table=declaration.default_table)
    frame, description = read.frame, read.description
    prepared = prepare(frame, declaration, description)
    if declaration.multiclass and not declaration.classes:
        declaration = declaration.with_classes(prepared.classes)
        print(f"classes: inferred from the data (sorted): {list(prepared.classes)}")
    data_info = {"source": description, "sha256": table_sha256(frame)}
    empty = empty_columns(prepared.features, declaration)
    if empty:
        action = "dropped" if declaration.empty_columns == "drop" else "kept as always-missing"
        print(
            f"tabship train: warning: column(s) {empty} have no value in any row: {action} "
            f'(the declaration\'s [dataset] empty_columns = "{declaration.empty_columns}")',
            file=sys.stderr,
        )
        if declaration.empty_columns == "drop":
            declaration = declaration.dropping(empty)
            data_info["dropped_empty_columns"] = empty
    print(
        f"data: {description}: {prepared.raw_rows} rows, dropped "
        f"{prepared.dropped_missing_target} without target and {prepared.dropped_duplicates} "
        f"duplicates, {len(prepared.features)} kept"
    )

    results = []
    for variant in variants:
        started = time.monotonic()
        trained = train_variant(
            prepared,
            declaration,
            variant,
            search_iterations=args.search_iterations,
            threshold_rule=args.threshold_rule,
        )
        released = _release(trained, declaration, data_info, args, registry)
        results.append((trained, released, time.monotonic() - started))
    _print_summary([(trained, released.folder, seconds) for trained, released, seconds in results])
    if registry is None:
        return 0
    status = 0 if args.no_gate else _verdicts([released for _, released, _ in results])
    if sign_key is not None and status == 0:
        from tabship.contract.errors import ModelRefused
        from tabship.contract.signature import sign_folder

        for _, released, _ in results:
            try:
                print(sign_folder(released.folder, sign_key))
            except ModelRefused as error:
                print(f"tabship train: not signed: {error}", file=sys.stderr)
                return 1
    # Local versions are in place already; an object store gets each gated folder now, its
    # manifest recording the verdict (servers refuse any version that did not pass).
    for _, released, _ in results:
        published = registry.publish(released.folder)
        if published != str(released.folder):
            print(f"published: {published}")
    return status


def _verdicts(released: list[Any]) -> int:
    """Release = gate passed: every version was gated before it was written; any failure
    fails the command."""
    from tabship.parity_tests.gate import print_outcome

    failed = []
    for version in released:
        print()
        print_outcome(version.folder, version.gate, version.outcome)
        if not version.passed:
            failed.append(version.folder)
    if failed:
        names = ", ".join(str(f) for f in failed)
        print(f"\ntabship train: parity gate FAILED for {names}; not released", file=sys.stderr)
        return 1
    return 0


def _release(
    trained: Any,
    declaration: Any,
    data_info: dict[str, Any],
    args: argparse.Namespace,
    registry: Any,
) -> Any:
    from tabship.release.flow import Released, release_candidate
    from tabship.training.report import write_report

    if args.no_export:
        folder = write_report(trained, Path(args.reports) / trained.variant)[0].parent
        return Released(folder, None, None)

    from tabship.export.artifact import ReleaseCandidate

    with tempfile.TemporaryDirectory() as scratch:
        report_dir = Path(scratch) / "report"
        write_report(trained, report_dir)
        candidate = ReleaseCandidate.from_trained(
            trained, data_info, declaration, report_dir=report_dir
        )
        return release_candidate(candidate, registry, gate=not args.no_gate)


def _print_summary(results: list[tuple[Any, Path, float]]) -> None:
    if results and results[0][0].multiclass:
        _print_multiclass_summary(results)
        return
    keys = ["roc_auc", "pr_auc", "f1", "precision", "recall", "log_loss", "brier"]
    print()
    print(f"{'variant':<16}" + "".join(f"{k:>10}" for k in keys) + f"{'threshold':>11}{'time':>8}")
    for trained, _, seconds in results:
        row = "".join(f"{trained.metrics[k]:>10.4f}" for k in keys)
        print(f"{trained.variant:<16}{row}{trained.threshold.value:>11.4f}{seconds:>7.0f}s")
    print()
    for trained, where, _ in results:
        print(f"{trained.variant}: {where}")


def _print_multiclass_summary(results: list[tuple[Any, Path, float]]) -> None:
    keys = ["log_loss", "accuracy", "f1_macro", "f1_weighted", "roc_auc_ovr_macro"]
    print()
    print(f"{'variant':<16}" + "".join(f"{k:>19}" for k in keys) + f"{'time':>8}")
    for trained, _, seconds in results:
        row = "".join(f"{trained.metrics[k]:>19.4f}" for k in keys)
        print(f"{trained.variant:<16}{row}{seconds:>7.0f}s")
    for trained, where, _ in results:
        print(f"\n{trained.variant}: {where}")
        print(f"{'class':<24}{'precision':>10}{'recall':>10}{'f1':>10}{'roc_auc':>10}{'rows':>7}")
        for name, m in trained.per_class.items():
            auc = "-" if m["roc_auc_ovr"] is None else f"{m['roc_auc_ovr']:.4f}"
            print(
                f"{name[:23]:<24}{m['precision']:>10.4f}{m['recall']:>10.4f}{m['f1']:>10.4f}"
                f"{auc:>10}{int(m['support']):>7}"
            )
