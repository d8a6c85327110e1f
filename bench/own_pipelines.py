"""Issue 24's note: per test pipeline (tests/own_pipelines.py), the conversion time, the gate's
table through tabship.release, and the documented float32 recipe (skl2onnx + onnxmltools,
numeric inputs as float32) gated on the same rows and manifest.

    PYTHONPATH=. python bench/own_pipelines.py [--generated 2000] > out.md
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from onnx import helper
from own_pipelines import (
    GENERATED_STEPS,
    PENGUIN_STEPS,
    SPECIES,
    fit,
    generated_table,
    is_gentoo,
    penguins,
    species_codes,
)
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from xgboost import XGBClassifier

import tabship
from tabship.export.convert import OPSETS, _add_decision, _add_multiclass_decision
from tabship.export.converters import register_all
from tabship.parity_tests.gate import check_parity
from tabship.release.own import release
from tabship.training import evidence


def float32_recipe(folder: Path, generated: int) -> str:
    found = evidence.read(folder, None)
    reference, data = found.pipeline, found.reference_data
    manifest = json.loads((folder / "manifest.json").read_text())
    user = reference.named_steps["contract"].named_steps["steps"]
    pipeline = type(user)([*user.steps, ("model", reference.named_steps["model"])])
    register_all()
    types = [
        (
            i["name"],
            FloatTensorType([None, 1]) if i["kind"] == "numeric" else StringTensorType([None, 1]),
        )
        for i in manifest["inputs"]
    ]
    try:
        model = convert_sklearn(
            pipeline,
            initial_types=types,
            target_opset=dict(OPSETS),
            options={XGBClassifier: {"zipmap": False}},
        )
    except Exception as error:  # the recipe refuses the pipeline
        return f"refused ({type(error).__name__})"
    classes = manifest.get("target", {}).get("classes")
    if classes:
        _add_multiclass_decision(model, classes)
    else:
        _add_decision(model, manifest["threshold"]["value"])
    del model.opset_import[:]
    model.opset_import.extend(helper.make_opsetid(d, v) for d, v in sorted(OPSETS.items()))
    try:
        run = check_parity(
            reference, model.SerializeToString(), manifest, data, generated=generated
        )
    except Exception as error:
        return f"fails at load ({type(error).__name__})"
    return ", ".join(_cell(r) for r in run.results if r.name in ("test", "train", "boundary"))


def _cell(r: Any) -> str:
    if r.error:
        return f"{r.name} error"
    return f"{r.name} {r.max_abs_dp:.2g}/{r.flips}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--generated", type=int, default=2000)
    args = parser.parse_args()
    X, species = penguins()
    cases = []
    for name, make in PENGUIN_STEPS.items():
        cases.append((name, "binary", make, X, is_gentoo(species), None))
        cases.append((name, "3 classes", make, X, species_codes(species), SPECIES))
    G, churned = generated_table()
    for name, make in GENERATED_STEPS.items():
        cases.append((name, "binary", make, G, churned.to_numpy(), None))
    print(
        "| pipeline | target | convert s | gate: set max dP/flips (test, train, boundary, "
        "hostile, generated), tree-input cells | verdict | float32 recipe (test, train, boundary) |"
    )
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as registry:
        for name, target, make, frame, y, classes in cases:
            train, test = frame.iloc[::2], frame.iloc[1::2]
            pipeline = fit(make(), train, y[::2])
            started = time.perf_counter()
            tabship.convert(pipeline, train, classes=classes)
            seconds = time.perf_counter() - started
            done = release(
                pipeline,
                train=(train, y[::2]),
                test=(test, y[1::2]),
                name=f"{name}-{len(classes or [0, 1])}",
                registry=registry,
                classes=classes,
                generated=args.generated,
            )
            sets = ", ".join(
                f"{s['max_abs_dp']:.2g}/{s['flips']}" if s["max_abs_dp"] is not None else "error"
                for s in done.outcome["sets"]
            )
            cells = sum(s["tree_input_cells"] for s in done.outcome["sets"])
            verdict = "passed" if done.passed else "FAILED"
            recipe = float32_recipe(done.folder, args.generated)
            print(
                f"| {name} | {target} | {seconds:.3f} | {sets}; {cells} | {verdict} | {recipe} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
