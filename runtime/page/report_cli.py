"""`tabship report MODEL [-o FILE]`: the model page of a version as one self-contained HTML
file (the page `GET /` serves, with the scoring form switched off). The model is verified as
the server verifies it; a version whose gate did not pass is described too (its verdict shows).
The file is written atomically and never replaces an existing one."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tabship.contract.errors import ModelRefused
from tabship.runtime.model.artifact import load_artifact
from tabship.runtime.page.plots import load_plots
from tabship.runtime.page.render import render_page
from tabship.runtime.settings import Settings, SettingsError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model", help="version directory (path, file://, http(s)://, s3://) as for serve"
    )
    parser.add_argument(
        "-o", "--output", help="HTML file to write (default: ./<name>-<version>.html)"
    )


def write_new(path: Path, text: str) -> None:
    """Writes `path` only if it does not exist, never half-written: a temporary file in the
    same folder, flushed, then hard-linked to the final name (which fails if it exists)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(temporary, path)
    finally:
        temporary.unlink()


def run(args: argparse.Namespace) -> int:
    def fail(message: str) -> int:
        print(f"tabship report: {message}", file=sys.stderr)
        return 2

    try:
        settings = Settings.from_env(model_uri=args.model, allow_ungated=True)
        artifact = load_artifact(settings)
    except (SettingsError, ModelRefused) as error:
        return fail(str(error))
    plots = load_plots(artifact.manifest, artifact.model_location, settings)
    for plot in plots:
        if plot.reason is not None:
            print(f"tabship report: {plot.file} not shown: {plot.reason}", file=sys.stderr)
    page = render_page(artifact.manifest, artifact.sha256, plots, live=False)
    output = Path(args.output or f"{artifact.name}-{artifact.version}.html")
    if output.exists():
        return fail(f"{output} already exists; not overwriting it")
    if not output.parent.is_dir():
        return fail(f"{output.parent}: no such directory")
    try:
        write_new(output, page.html)
    except FileExistsError:
        return fail(f"{output} appeared while writing; not overwriting it")
    except OSError as error:
        return fail(f"{output}: cannot write ({error.strerror or error})")
    print(output)
    return 0
