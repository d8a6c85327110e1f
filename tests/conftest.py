"""Shared fixtures: the default declaration, a small dirty table, and ONE small exported version
per session (trained with few trees, no search) that the export tests share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from tabship.training.declaration import Declaration, load_declaration

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
SMALL_ROWS = 2000
SMALL_TREES = 30


@dataclass
class Exported:
    registry_root: Path
    version_dir: Path
    name: str
    declaration: Declaration
    pipeline: Pipeline
    threshold: float
    train_frame: pd.DataFrame
    test_frame: pd.DataFrame
    candidate: Any


@pytest.fixture(scope="session")
def declaration() -> Declaration:
    return load_declaration()


@pytest.fixture(scope="session")
def sessions() -> pd.DataFrame:
    """The built-in dirty data set, small. Tests must not modify it (copy first)."""
    from tabship.training.default_data import generate_sessions

    return generate_sessions(n_rows=SMALL_ROWS)


@pytest.fixture(scope="session")
def exported(
    tmp_path_factory: pytest.TempPathFactory, declaration: Declaration, sessions: pd.DataFrame
) -> Exported:
    from tabship.export.artifact import ReleaseCandidate, export_candidate
    from tabship.export.registry import Registry
    from tabship.training.data_sources import table_sha256
    from tabship.training.evaluation import choose_threshold, held_out_metrics
    from tabship.training.pipeline import RANDOM_STATE, build_pipeline
    from tabship.training.prepare import prepare

    prepared = prepare(sessions, declaration, "generated:sessions")
    x_train, x_test, y_train, y_test = train_test_split(
        prepared.features,
        prepared.target,
        test_size=0.25,
        stratify=prepared.target,
        random_state=RANDOM_STATE,
    )
    pipeline = build_pipeline(declaration, n_estimators=SMALL_TREES).fit(x_train, y_train)
    threshold = choose_threshold(
        y_train, pipeline.predict_proba(x_train)[:, 1], "max_f1", "train (test fixture)"
    )
    record = {
        "declaration": declaration.path.name,
        "data": {
            "source": "generated:sessions",
            "sha256": table_sha256(sessions),
            "rows": {
                "raw": prepared.raw_rows,
                "clean": len(prepared.features),
                "train": len(x_train),
                "test": len(x_test),
            },
        },
        "metrics": held_out_metrics(y_test, pipeline.predict_proba(x_test)[:, 1], threshold.value),
        "threshold": threshold.as_dict(),
        "best_params": {"model__n_estimators": SMALL_TREES},
    }
    candidate = ReleaseCandidate(
        name="shoppers-full",
        variant="full",
        declaration=declaration.for_variant("full"),
        pipeline=pipeline,
        record=record,
        reference_data={
            "train_frame": x_train.reset_index(drop=True),
            "train_target": np.asarray(y_train),
            "test_frame": x_test.reset_index(drop=True),
            "test_target": np.asarray(y_test),
        },
    )
    root = tmp_path_factory.mktemp("registry")
    version_dir = export_candidate(candidate, Registry(root))
    return Exported(
        registry_root=root,
        version_dir=version_dir,
        name=candidate.name,
        declaration=candidate.declaration,
        pipeline=pipeline,
        threshold=threshold.value,
        train_frame=x_train.reset_index(drop=True),
        test_frame=x_test.reset_index(drop=True),
        candidate=candidate,
    )


@pytest.fixture(scope="session")
def penguins_version(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The Palmer penguins, species as the target: trained, exported and gated (3 classes)."""
    from multiclass_models import PENGUINS, build_version, penguins_frame

    return build_version(tmp_path_factory.mktemp("penguins"), penguins_frame(), PENGUINS)


@pytest.fixture(scope="session")
def failures_version(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A generated six-class table with one rare class: trained, exported and gated."""
    from multiclass_models import FAILURES, build_version, failures_frame

    return build_version(tmp_path_factory.mktemp("failures"), failures_frame(), FAILURES)
