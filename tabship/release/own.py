"""A user's own fitted pipeline released from Python: `tabship.release(...)`, and the graph
alone: `tabship.convert(...)`.

The same road as `tabship train` (flow.py): the pipeline is converted (refused by step path
before anything is written), described, gated on the rows given, and written once with its
verdict; then signed and published. Only what training would have decided is taken from the
pipeline and the data: the input contract, the target's classes and the test metrics.
"""

from __future__ import annotations

import html
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd

from tabship.parity_tests.generated import DEFAULT_ROWS as DEFAULT_GENERATED_ROWS

HELD_OUT = 0.2


@dataclass
class Release:
    """One released version of a user's pipeline: where it is, the gate's verdict and table,
    the test metrics. Shown as a table in a notebook."""

    name: str
    version: str
    folder: Path
    location: str  # the folder, or the object-store URI it was published to
    passed: bool
    gate_table: str
    metrics: dict[str, float]
    outcome: dict[str, Any] = field(repr=False)
    convert_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [f"Release {self.name} {self.version}: parity {verdict}", f"  {self.location}"]
        lines += ["  " + line for line in self.gate_table.splitlines()]
        lines.append("  " + ", ".join(f"{k} {v:.4f}" for k, v in self.metrics.items()))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        colour = "#1a7f37" if self.passed else "#cf222e"
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>" for k, v in self.metrics.items()
        )
        sets = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(s.get(k)))}</td>"
                for k in ("name", "rows", "max_abs_dp", "flips", "threshold_flips")
            )
            + f"<td>{'ok' if s.get('passed') else 'FAIL'}</td></tr>"
            for s in self.outcome.get("sets", [])
        )
        return (
            f"<div><b>{html.escape(self.name)}</b> {html.escape(self.version)} "
            f"<span style='color:{colour}'>parity {verdict}</span><br>"
            f"<code>{html.escape(self.location)}</code>"
            "<table><tr><th>set</th><th>rows</th><th>max |dP|</th><th>flips</th>"
            f"<th>threshold flips</th><th></th></tr>{sets}</table>"
            f"<table><tr><th>metric (test)</th><th>value</th></tr>{rows}</table></div>"
        )


def _frame(X: Any, where: str) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"{where}: X must be a pandas DataFrame (the columns' names and types)")
    return X


def convert(
    pipeline: Any,
    X_sample: Any,
    *,
    threshold: float = 0.5,
    classes: Sequence[str] | None = None,
) -> onnx.ModelProto:
    """The ONNX graph of a fitted Pipeline ending in an XGBClassifier, without a release.

    Example::

        model = tabship.convert(pipeline, X_train.head(100))
        onnx.save(model, "pipeline.onnx")

    `X_sample` (a DataFrame with the columns the pipeline was fitted on) decides each input's
    kind: numbers -> float64 inputs, text -> string inputs. A multiclass model's `decision`
    output names its classes (`classes`, default "0".."K-1"); a binary one is 1 at
    P >= `threshold`. A step with no exact converter raises StepRefused naming its path.
    """
    from tabship.export.standard.own_graph import convert_own
    from tabship.training.own.contract import read_columns
    from tabship.training.own.reference import own_reference

    reference = own_reference(pipeline, read_columns(pipeline, _frame(X_sample, "X_sample")))
    n_classes = len(reference.named_steps["model"].classes_)
    if n_classes > 2:
        names = list(classes) if classes else [str(i) for i in range(n_classes)]
        return convert_own(reference, None, names)
    return convert_own(reference, threshold, None)


def release(
    pipeline: Any,
    *,
    train: tuple[Any, Any],
    test: tuple[Any, Any] | None = None,
    name: str,
    registry: str | None = None,
    evidence: str | None = None,
    threshold: float | None = None,
    threshold_rule: str | None = None,
    sign_key: str | Path | None = None,
    classes: Sequence[str] | None = None,
    positive: str | None = None,
    source: str = "python",
    generated: int = DEFAULT_GENERATED_ROWS,
) -> Release:
    """Convert, gate, write once, sign and publish a fitted Pipeline ending in XGBClassifier.

    Example::

        import tabship
        done = tabship.release(pipeline, train=(X_train, y_train), test=(X_test, y_test),
                               name="penguins")
        done          # in a notebook: the version, the gate's table, the test metrics
        done.folder   # models/penguins/<version>: serve it with `tabship serve --model ...`

    The version goes to `registry` (a folder or s3://; default $TABSHIP_REGISTRY or ./models);
    its evidence (the pipeline and the train/test rows: training data) to `evidence` (default
    beside the registry, `<registry>-evidence`), never into the version folder.
    `train` and `test` are (DataFrame, target) pairs; without `test`, 20 % of `train` is held
    out (stratified) and the output says so. The target is given as the model's codes
    0..K-1, or as values: `classes` names them in the model's order (else sorted), and a
    binary target's `positive` value is class 1. The binary decision threshold is
    `threshold`, else chosen by `threshold_rule` ("max_f1", "min_precision:P") on the test
    rows, else 0.5 (the pipeline's predict). Raises StepRefused (a step with no exact
    converter, by its path) or ContractError before anything is written; a version that fails
    the gate is written with its failed verdict (servers refuse it) and `passed` is False.
    """
    from sklearn.model_selection import train_test_split

    from tabship.export.artifact import ReleaseCandidate
    from tabship.export.registry import open_registry
    from tabship.export.standard.own_graph import convert_own
    from tabship.parity_tests.gate import format_table
    from tabship.release.flow import release_candidate
    from tabship.training.data_sources import table_sha256
    from tabship.training.evaluation import parse_rule
    from tabship.training.evidence import DECLARATION_FILE
    from tabship.training.own.contract import ContractError, read_columns
    from tabship.training.own.declare import write_declaration
    from tabship.training.own.evaluate import evaluate_own
    from tabship.training.own.reference import own_reference
    from tabship.training.own.target import encode_target
    from tabship.training.pipeline import RANDOM_STATE
    from tabship.training.report import write_report

    if threshold_rule is not None:
        parse_rule(threshold_rule)
    key = None
    if sign_key is not None:
        from tabship.contract.signature import load_private_key

        key = load_private_key(Path(sign_key))
    x_train = _frame(train[0], "train")
    columns = read_columns(pipeline, x_train)
    reference = own_reference(pipeline, columns)
    model = reference.named_steps["model"]
    n_classes = len(model.classes_)
    y_train, names = encode_target(train[1], n_classes, positive=positive, classes=classes)
    multiclass = n_classes > 2
    notes = []
    if test is None:
        x_train, x_test, y_train, y_test = train_test_split(
            x_train, y_train, test_size=HELD_OUT, stratify=y_train, random_state=RANDOM_STATE
        )
        notes.append(
            f"test set: a held-out {HELD_OUT:.0%} split of the training data (stratified, "
            "seeded); the pipeline may have been fitted on these rows"
        )
    else:
        x_test = _frame(test[0], "test")
        y_test, test_names = encode_target(test[1], n_classes, positive=positive, classes=names)
        if test_names != names:
            raise ContractError(f"test classes {test_names} differ from train classes {names}")
    raw = [c.name for c in columns]
    x_train, x_test = x_train[raw].reset_index(drop=True), x_test[raw].reset_index(drop=True)
    started = time.perf_counter()
    convert_own(reference, None if multiclass else 0.5, names if multiclass else None)
    seconds = time.perf_counter() - started  # refusals surface here, before any file
    store = open_registry(registry, evidence)
    with tempfile.TemporaryDirectory(prefix="tabship-own-") as scratch:
        folder = Path(scratch)
        target = str(getattr(train[1], "name", None) or "target")
        if target in raw:
            target += "_target"
        declaration = write_declaration(
            folder, name, target, columns, names if multiclass else None
        )
        trained = evaluate_own(
            reference,
            declaration,
            (x_train, np.asarray(y_train)),
            (x_test, np.asarray(y_test)),
            names if multiclass else None,
            threshold=threshold,
            threshold_rule=threshold_rule,
        )
        write_report(trained, folder / "report")
        record: dict[str, Any] = {
            "declaration": DECLARATION_FILE,
            "data": {
                "source": source,
                "sha256": table_sha256(pd.concat([x_train, x_test], ignore_index=True)),
                "rows": trained.rows,
            },
            "metrics": trained.metrics,
            "best_params": {},
            "pipeline": {"origin": "fitted by the user", "steps": repr(pipeline)[:2000]},
        }
        if multiclass:
            record["target"] = {"kind": "multiclass", "classes": names}
            record["metrics_per_class"] = trained.per_class
        else:
            assert trained.threshold is not None
            record["threshold"] = trained.threshold.as_dict()
        candidate = ReleaseCandidate(
            name=name,
            variant=trained.variant,
            declaration=declaration,
            pipeline=reference,
            record=record,
            reference_data={
                "train_frame": trained.train_frame,
                "train_target": trained.train_target,
                "test_frame": trained.test_frame,
                "test_target": trained.test_target,
            },
            report_dir=folder / "report",
        )
        released = release_candidate(candidate, store, generated=generated)
    assert released.gate is not None
    assert released.outcome is not None
    if key is not None and released.passed:
        from tabship.contract.signature import sign_folder

        sign_folder(released.folder, key)
    location = store.publish(released.folder)
    return Release(
        name=name,
        version=released.folder.name,
        folder=released.folder,
        location=location,
        passed=released.passed,
        gate_table=format_table(
            released.gate.results,
            released.gate.details.get("seconds"),
            target=released.gate.target,
        ),
        metrics=dict(trained.metrics),
        outcome=released.outcome,
        convert_seconds=seconds,
        notes=notes,
    )
