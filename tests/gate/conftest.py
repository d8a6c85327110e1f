"""One small released-shape version per session, trained through the real training code."""

from __future__ import annotations

from pathlib import Path

import pytest

ROWS = 3000


@pytest.fixture(scope="session")
def version_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from export.artifact import ReleaseCandidate, export_candidate
    from export.registry import Registry
    from training.cli import training_record
    from training.data_sources import table_sha256
    from training.declaration import load_declaration
    from training.default_data import generate_sessions
    from training.prepare import prepare
    from training.train import train_variant

    declaration = load_declaration()
    frame = generate_sessions(n_rows=ROWS)
    prepared = prepare(frame, declaration, "generated")
    trained = train_variant(prepared, declaration, "full", search_iterations=1)
    data = {"source": "generated", "sha256": table_sha256(frame)}
    candidate = ReleaseCandidate(
        name="shoppers-full",
        variant="full",
        declaration=trained.declaration,
        pipeline=trained.pipeline,
        record=training_record(trained, data, declaration),
        reference_data={
            "train_frame": trained.train_frame,
            "train_target": trained.train_target,
            "test_frame": trained.test_frame,
            "test_target": trained.test_target,
        },
    )
    return export_candidate(candidate, Registry(tmp_path_factory.mktemp("registry")))
