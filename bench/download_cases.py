"""The model-download attack cases of issue 16, timed: what start-up does with each.

    PYTHONPATH=TREE:TREE/tests/runtime .venv/bin/python bench/download_cases.py CASE

CASE: trickle | trickle-rate | redirect | fifo | zero | zerolink. TREE is the checkout to
measure (this one, or an older one from `git worktree add`), so before and after run the same
command; the local test servers come from tests/runtime/download_servers.py.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from download_servers import file_server, redirector, trickler  # tests/runtime
from fixture_model import write_version  # tests/runtime

from tabship.runtime.dataplane.errors import ModelRefused
from tabship.runtime.model.artifact import fetch_url
from tabship.runtime.model.session import Model
from tabship.runtime.settings import Settings

LIMITS = {
    "TABSHIP_FETCH_CONNECT_TIMEOUT_S": "1",
    "TABSHIP_FETCH_READ_TIMEOUT_S": "1",
    "TABSHIP_FETCH_TIMEOUT_S": "11",
}
VERSION = "20261126T070000000000Z-0a1b2c3d"


def timed(label: str, action: Callable[[], Any]) -> None:
    start = time.monotonic()
    try:
        outcome = f"ACCEPTED ({type(action()).__name__})"
    except ModelRefused as refusal:
        outcome = f"refused: {refusal}"
    except BaseException as error:  # what the old code did instead of refusing
        outcome = f"{type(error).__name__}: {str(error)[:100]}"
    print(f"{label}: {time.monotonic() - start:.1f} s -> {outcome[:220]}", flush=True)


def main(case: str) -> None:
    if case in ("trickle", "trickle-rate"):
        limits = {**LIMITS, "TABSHIP_FETCH_MIN_BYTES_PER_S": "0"}
        if case == "trickle-rate":  # the default minimum rate, a generous overall limit
            limits = {**LIMITS, "TABSHIP_FETCH_TIMEOUT_S": "300"}
        with trickler(declared=100_000) as url:
            settings = Settings.from_env(limits)
            timed(f"{case}: 1000 B every 0.9 s", lambda: fetch_url(url + "/m", settings))
        return
    root = Path(tempfile.mkdtemp())
    version = write_version(root, "m", VERSION, threshold=0.35)
    if case == "redirect":
        with file_server(root, host="127.0.0.2") as other, redirector(lambda p: other + p) as hop:
            uri = f"{hop}/m/{version.name}/"
            timed("redirect 127.0.0.1 -> 127.0.0.2", lambda: Model.load(Settings(model_uri=uri)))
        with redirector(lambda p: "file:///etc/passwd") as hop:
            timed("redirect -> file:///etc/passwd", lambda: fetch_url(hop + "/x", Settings()))
        return
    (version / "model.onnx").unlink()
    if case == "fifo":
        os.mkfifo(version / "model.onnx")
    else:
        (version / "model.onnx").symlink_to("/dev/zero")
    uri = "/dev/zero" if case == "zero" else str(version)
    pin = {"model_sha256": "0" * 64} if case == "zero" else {}
    timed(f"{case}: {uri}", lambda: Model.load(Settings(model_uri=uri, **pin)))


if __name__ == "__main__":
    main(sys.argv[1])
