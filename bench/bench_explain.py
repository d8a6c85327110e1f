"""Cost of explanations, as ratios against plain scoring measured in the same run: one row
(validated feeds -> session -> TreeSHAP -> per column) and N rows, for a model of the default
shape (150 trees, depth 3) and a deep one (300 trees, depth 8); xgboost's own pred_contribs
(C++, one thread) on the same tree inputs as a second baseline. By hand:
`.venv/bin/python bench/bench_explain.py [--rows 100000] [--deep-rows 2000]`."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import xgboost as xgb
from sklearn.model_selection import train_test_split

from tabship.export.artifact import ReleaseCandidate, export_candidate
from tabship.export.registry import Registry
from tabship.runtime.model.artifact import load_artifact
from tabship.runtime.model.schema import InputSchema
from tabship.runtime.model.session import Model
from tabship.runtime.settings import Settings
from tabship.training.declaration import load_declaration
from tabship.training.default_data import generate_sessions
from tabship.training.pipeline import build_pipeline
from tabship.training.prepare import prepare


def version(trees: int, depth: int, scratch: Path) -> tuple[Model, Any, Any]:
    declaration = load_declaration()
    prepared = prepare(generate_sessions(n_rows=12_330), declaration, "generated")
    x_train, x_test, y_train, _ = train_test_split(
        prepared.features, prepared.target, test_size=0.25, random_state=1
    )
    pipeline = build_pipeline(declaration, n_estimators=trees, max_depth=depth).fit(
        x_train, y_train
    )
    candidate = ReleaseCandidate(
        name="bench-explain",
        variant="full",
        declaration=declaration.for_variant("full"),
        pipeline=pipeline,
        record={
            "declaration": declaration.path.name,
            "data": {"source": "generated", "sha256": "0" * 64, "rows": {}},
            "metrics": {},
            "threshold": {"value": 0.5, "rule": "bench", "chosen_on": "none"},
            "best_params": {},
        },
        reference_data={"train_frame": x_train.reset_index(drop=True)},
    )
    folder = export_candidate(candidate, Registry(scratch / f"r{trees}-{depth}"))
    settings = Settings.from_env({"TABSHIP_ALLOW_UNGATED": "1"}, model_uri=str(folder))
    return Model(load_artifact(settings)), pipeline, x_test.reset_index(drop=True)


def median_us(fn: Any, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def seconds(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def measure(label: str, model: Model, pipeline: Any, test: Any, rows: int) -> None:
    explainer = model.explainer
    assert explainer is not None
    schema = InputSchema(model.inputs)
    records = test.to_dict("records")
    good = schema.mask_rows(records)
    records = [r for r, ok in zip(records, good.good.tolist(), strict=True) if ok]
    one = schema.validate_rows(records[:1])
    feeds1 = schema.stack([one])

    def plain1() -> None:
        model.score(feeds1)

    def explained1() -> None:
        _, x = model.score_explained(feeds1)
        explainer.by_column(x)

    plain_us, explained_us = median_us(plain1, 300), median_us(explained1, 300)
    print(
        f"{label}: one row  plain {plain_us:9.1f} us  explained {explained_us:9.1f} us  "
        f"ratio {explained_us / plain_us:7.1f}x"
    )

    many = [records[i % len(records)] for i in range(rows)]
    feeds = schema.stack([schema.validate_rows(many)])
    plain_s = seconds(lambda: model.score(feeds))
    holder: dict[str, Any] = {}

    def explain_all() -> None:
        _, x = model.score_explained(feeds)
        holder["x"] = x
        explainer.by_column(x)

    explained_s = seconds(explain_all)
    x = holder["x"]
    booster = pipeline[-1].get_booster()
    booster.set_param({"nthread": 1})
    xgb_s = seconds(lambda: booster.predict(xgb.DMatrix(x), pred_contribs=True))
    print(
        f"{label}: {rows} rows  plain {rows / plain_s:10.0f} rows/s  explained "
        f"{rows / explained_s:9.0f} rows/s  ratio {explained_s / plain_s:7.1f}x  "
        f"xgboost pred_contribs (1 thread) {rows / xgb_s:9.0f} rows/s "
        f"(tabship / xgboost time {explained_s / xgb_s:5.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--deep-rows", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        for label, trees, depth, rows in (
            ("default 150x3", 150, 3, args.rows),
            ("deep 300x8", 300, 8, args.deep_rows),
        ):
            model, pipeline, test = version(trees, depth, Path(scratch))
            measure(label, model, pipeline, test, rows)


if __name__ == "__main__":
    main()
