"""One small released-shape version per session, trained through the real training code."""

from __future__ import annotations

from pathlib import Path

import pytest

ROWS = 3000


@pytest.fixture(scope="session")
def version_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tabship.export.artifact import ReleaseCandidate, export_candidate
    from tabship.export.registry import Registry
    from tabship.training.data_sources import table_sha256
    from tabship.training.declaration import load_declaration
    from tabship.training.default_data import generate_sessions
    from tabship.training.prepare import prepare
    from tabship.training.train import train_variant

    declaration = load_declaration()
    frame = generate_sessions(n_rows=ROWS)
    prepared = prepare(frame, declaration, "generated")
    trained = train_variant(prepared, declaration, "full", search_iterations=1)
    data = {"source": "generated", "sha256": table_sha256(frame)}
    candidate = ReleaseCandidate.from_trained(trained, data, declaration)
    return export_candidate(candidate, Registry(tmp_path_factory.mktemp("registry")))
