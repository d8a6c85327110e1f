"""How many of tabship's own modules one request runs code in: one /v1/predict and one Open
Inference Protocol infer (JSON), on the app `tabship serve` builds, in this process.

    .venv/bin/python bench/module_crossings.py [--checkout DIR]

Counts the distinct source files of the checkout whose functions are called (sys.setprofile)
while the request is handled, after one warm-up request. --checkout runs it on another checkout
(e.g. `git worktree add /tmp/old e55ae00`) with that tree's own module names (before and after
the packages moved under tabship)."""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

ROW = {
    "PageValues": 10.0,
    "ExitRates": 0.05,
    "Administrative": 3.0,
    "Month": "nov",
    "VisitorType": "new_visitor",
    "OperatingSystems": "2",
}


def _module(checkout: Path, new: str, old: str) -> Any:
    """The module by the checkout's own name for it (before the move: no tabship/ folder)."""
    return importlib.import_module(new if (checkout / "tabship").is_dir() else old)


def crossings(checkout: Path) -> dict[str, list[str]]:
    sys.path.insert(0, str(checkout / "tests" / "runtime"))
    sys.path.insert(0, str(checkout))
    from fixture_model import write_version
    from starlette.testclient import TestClient

    app_module = _module(checkout, "tabship.runtime.rest.app", "runtime.app")
    session = _module(checkout, "tabship.runtime.model.session", "runtime.model")
    settings_module = _module(checkout, "tabship.runtime.settings", "runtime.settings")
    version = write_version(
        Path(tempfile.mkdtemp()), "shoppers-full", "20261126T070000000000Z-0a1b2c3d"
    )
    settings = settings_module.Settings.from_env({}, model_uri=str(version))
    model = session.Model.load(settings)
    roots = [str(checkout / name) for name in ("runtime", "tabship", "contract")]
    files: set[str] = set()
    recording = threading.Event()

    def profile(frame: Any, event: str, _: Any) -> None:
        if event == "call" and recording.is_set():
            path = frame.f_code.co_filename
            if path.startswith(tuple(roots)):
                files.add(str(Path(path).resolve().relative_to(checkout.resolve())))

    # every thread the app starts (TestClient's portal, the scoring and prep threads) too
    threading.setprofile(profile)
    client = TestClient(app_module.create_app(settings, model))
    client.__enter__()
    infer = {
        "inputs": [
            {
                "name": k,
                "datatype": "FP64" if isinstance(v, float) else "BYTES",
                "shape": [1, 1],
                "data": [v],
            }
            for k, v in ROW.items()
        ]
    }
    requests = {
        "/v1/predict": lambda: client.post("/v1/predict", json=ROW),
        "OIP infer": lambda: client.post("/v2/models/shoppers-full/infer", json=infer),
    }
    found: dict[str, list[str]] = {}
    for label, send in requests.items():
        assert send().status_code == 200
        files.clear()
        recording.set()
        response = send()
        recording.clear()
        assert response.status_code == 200, response.text
        found[label] = sorted(files)
    client.__exit__(None, None, None)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkout", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args()
    for label, files in crossings(args.checkout.resolve()).items():
        print(f"{label}: {len(files)} modules: {', '.join(files)}")


if __name__ == "__main__":
    main()
