#!/usr/bin/env bash
# What CI proves beyond the unit tests: the default variants train, export and pass the parity
# gate with the default search budget, and the Node consumer reproduces the released model.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${TABSHIP_VENV:-.venv}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TABSHIP_DATA_DIR="$work/data"
"$venv/bin/tabship" train --registry "$work/models"   # exits non-zero unless both pass the gate
for model in "$work"/models/*/; do
  version=$(ls -d "$model"*/ | sort | tail -n 1)
  "$venv/bin/tabship" parity "$version" --generated-rows 500 --fixture "$work/fixture.json" > /dev/null
  node clients/node/bin/parity.js "$work/fixture.json" "$version"
done
