"""One small released-shape version per session, trained through the real training code."""

from __future__ import annotations

from pathlib import Path

import pytest

ROWS = 3000


@pytest.fixture(scope="session")
def version_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from export.artifact import ReleaseCandidate, export_candidate
    from export.registry import Registry
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
    candidate = ReleaseCandidate.from_trained(trained, data, declaration)
    return export_candidate(candidate, Registry(tmp_path_factory.mktemp("registry")))
