"""The Dockerfile's build context holds what it copies, for every role serve_install.sh takes.

No Docker engine runs here, so `docker build` cannot prove it; this reads the same rules Docker
applies to .dockerignore (patterns in order, the last match wins, `!` re-admits)."""

import re

from docker_context import ROOT, admitted, copied_sources, ignore_rules


def test_every_copied_path_exists_and_is_in_the_build_context() -> None:
    rules = ignore_rules()
    sources = copied_sources()
    assert sources, "the Dockerfile copies nothing from the context"
    for source in sources:
        assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
        assert admitted(source, rules), f".dockerignore keeps {source} out of the build context"


def test_every_role_the_image_can_be_built_with_has_its_lock_copied() -> None:
    install = (ROOT / "scripts" / "serve_install.sh").read_text()
    roles = re.search(r'case "\$role" in ([\w|]+)\)', install)
    assert roles is not None
    copied = set(copied_sources())
    for role in roles.group(1).split("|"):
        assert f"locks/{role}.txt" in copied, f"ROLE={role}: the Dockerfile does not copy its lock"


def test_the_matcher_follows_last_match_wins() -> None:
    rules = ["*", "!locks/serve.txt", "**/*.pyc"]
    assert admitted("locks/serve.txt", rules)
    assert not admitted("locks/s3.txt", rules)
    assert admitted("runtime/rest/app.py", ["*", "!runtime/", "**/*.pyc"])
    assert not admitted("runtime/app.pyc", ["*", "!runtime/", "**/*.pyc"])
