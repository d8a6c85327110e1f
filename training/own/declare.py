"""The declaration of a user's own pipeline, written from its input contract: the version's
declaration.toml (what it reads, its target), not a recipe (the pipeline came fitted)."""

from __future__ import annotations

import json
from pathlib import Path

from tabship.training.declaration import Declaration, load_declaration
from tabship.training.own.contract import OwnColumn


def _text(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a valid TOML basic string


def write_declaration(
    folder: Path,
    name: str,
    target: str,
    columns: list[OwnColumn],
    classes: list[str] | None,
) -> Declaration:
    lines = [
        "# The input contract of a fitted pipeline released with tabship (not trained here):",
        "# its raw columns as the pipeline read them, and its target.",
        "",
        "[dataset]",
        f"name = {_text(name)}",
        f"target = {_text(target)}",
    ]
    if classes:
        lines.append("classes = [" + ", ".join(_text(c) for c in classes) + "]")
    for column in columns:
        lines += ["", "[[columns]]", f"name = {_text(column.name)}", f'kind = "{column.kind}"']
    path = folder / "declaration.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_declaration(path)
