"""The Docker build context as Docker would send it, for tests that cannot run `docker build`
(no engine here): the Dockerfile's COPY sources, filtered by .dockerignore with Docker's rules
(patterns in order, the last match wins, `!` re-admits)."""

from __future__ import annotations

import fnmatch
import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def admitted(path: str, rules: list[str]) -> bool:
    kept = True
    for rule in rules:
        negated = rule.startswith("!")
        pattern = (rule[1:] if negated else rule).rstrip("/")
        # a pattern naming a folder admits or excludes everything under it
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            kept = negated
    return kept


def ignore_rules() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def copied_sources() -> list[str]:
    """What the Dockerfile COPYs from the build context (not `--from` another stage)."""
    sources = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
            sources.extend(words[1:-1])
    return sources


def _entries(folder: Path) -> list[Path]:
    """Files and symbolic links under folder, without following the links (as Docker does)."""
    found = []
    for parent, folders, files in os.walk(folder):
        here = Path(parent)
        found += [here / name for name in files]
        found += [here / name for name in folders if (here / name).is_symlink()]
    return sorted(found)


def build_context(dest: Path) -> Path:
    """A copy of the repo holding only what the image build can see, laid out as in the repo."""
    rules = ignore_rules()
    for source in copied_sources():
        origin = ROOT / source
        for file in [origin] if origin.is_file() else _entries(origin):
            relative = file.relative_to(ROOT).as_posix()
            if admitted(relative, rules):
                target = dest / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                # COPY keeps a symbolic link a link (tabship/runtime -> ../runtime)
                shutil.copy2(file, target, follow_symlinks=False)
    return dest
