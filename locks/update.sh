#!/usr/bin/env bash
# Regenerates the pinned lock files, one per role, from pyproject.toml.
# The dev lock is solved first; the narrower roles are solved under it as a
# constraint so that every role pins the same version of a shared package.
set -euo pipefail
cd "$(dirname "$0")/.."
compile() { uv pip compile pyproject.toml --python-version 3.11 --no-header --quiet "$@"; }
compile --extra dev -o locks/dev.txt
for role in serve grpc batch dask train s3 sign; do
  compile --extra "$role" -c locks/dev.txt -o "locks/$role.txt"
done
