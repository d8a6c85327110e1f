#!/usr/bin/env bash
# Creates the virtual environment ($TABSHIP_VENV, default .venv) with one role's pinned
# dependencies (locks/<role>.txt) and tabship itself. Roles: serve, grpc, batch, dask, train, s3,
# sign, dev.
set -euo pipefail
role=${1:?usage: scripts/setup.sh serve|grpc|batch|dask|train|s3|sign|dev}
cd "$(dirname "$0")/.."
lock="locks/$role.txt"
[ -f "$lock" ] || { echo "setup: no lock file $lock" >&2; exit 2; }
venv=${TABSHIP_VENV:-.venv}
python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "setup: Python 3.11 or newer is required ($python)" >&2; exit 2; }
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
# pip's notes about this machine's optional local indexes are noise; real errors still show.
quiet() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
quiet "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$lock"
quiet "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e .
echo "setup: $venv ready for role '$role'"
