"""The Dockerfile's build context holds what it copies, for every role serve_install.sh takes.

No Docker engine runs here, so `docker build` cannot prove it; this reads the same rules Docker
applies to .dockerignore (patterns in order, the last match wins, `!` re-admits)."""

import fnmatch
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _admitted(path: str, rules: list[str]) -> bool:
    admitted = True
    for rule in rules:
        negated = rule.startswith("!")
        pattern = rule[1:] if negated else rule
        pattern = pattern.rstrip("/")
        # a pattern naming a folder admits or excludes everything under it
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            admitted = negated
    return admitted


def _ignore_rules() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _copied_sources() -> list[str]:
    sources = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
            sources.extend(words[1:-1])
    return sources


def test_every_copied_path_exists_and_is_in_the_build_context() -> None:
    rules = _ignore_rules()
    sources = _copied_sources()
    assert sources, "the Dockerfile copies nothing from the context"
    for source in sources:
        assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
        assert _admitted(source, rules), f".dockerignore keeps {source} out of the build context"


def test_every_role_the_image_can_be_built_with_has_its_lock_copied() -> None:
    install = (ROOT / "scripts" / "serve_install.sh").read_text()
    roles = re.search(r'case "\$role" in ([\w|]+)\)', install)
    assert roles is not None
    copied = set(_copied_sources())
    for role in roles.group(1).split("|"):
        assert f"locks/{role}.txt" in copied, f"ROLE={role}: the Dockerfile does not copy its lock"


def test_the_matcher_follows_last_match_wins() -> None:
    rules = ["*", "!locks/serve.txt", "**/*.pyc"]
    assert _admitted("locks/serve.txt", rules)
    assert not _admitted("locks/s3.txt", rules)
    assert _admitted("runtime/app.py", ["*", "!runtime/", "**/*.pyc"])
    assert not _admitted("runtime/app.pyc", ["*", "!runtime/", "**/*.pyc"])
