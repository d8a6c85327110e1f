#!/usr/bin/env bash
# What CI proves beyond the unit tests: the default variants train, export and pass the parity
# gate with the default search budget, and the Node consumer reproduces the released model; the
# Node, Java and Go consumers run each version's conformance vectors (`tabship vectors`).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${TABSHIP_VENV:-.venv}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TABSHIP_DATA_DIR="$work/data"
export TABSHIP_ONNXRUNTIME_LIB="$PWD/clients/go/lib/libonnxruntime.so.1"
# Every consumer must refuse what the server refuses (same codes) and match the graph's float32
# bits: measured equal on onnxruntime 1.29 (Java), 1.30 (Node), 1.31.1 (Go) against Python's
# 1.32 with the server's session options, so bit-equality is required here, not only the bar.
vectors() {
  "$venv/bin/tabship" vectors "$1" -o "$work/vectors.jsonl" --generated-rows 500
  node clients/node/bin/vectors.js "$work/vectors.jsonl" "$1" --require-bit-equal
  java -jar clients/java/target/tabship-client.jar vectors "$work/vectors.jsonl" "$1" --require-bit-equal
  clients/go/bin/tabship-go vectors "$work/vectors.jsonl" "$1" --require-bit-equal
  rm "$work/vectors.jsonl"
}
"$venv/bin/tabship" train --registry "$work/models"   # exits non-zero unless both pass the gate
for model in "$work"/models/*/; do
  version=$(ls -d "$model"*/ | sort | tail -n 1)
  "$venv/bin/tabship" parity "$version" --generated-rows 500 --fixture "$work/fixture.json" > /dev/null
  node clients/node/bin/parity.js "$work/fixture.json" "$version"
  vectors "$version"
done
# Multiclass (issue 12): the Palmer penguins (3 classes, real missing values) and a generated
# six-class table with a rare class, trained with the default search, gated, and reproduced by
# the Node consumer.
"$venv/bin/python" - "$work" <<'PY'
import sys
from pathlib import Path

sys.path.insert(0, "tests")
from multiclass_models import failures_frame, penguins_frame

penguins_frame().to_csv(Path(sys.argv[1]) / "penguins.csv", index=False)
failures_frame().to_csv(Path(sys.argv[1]) / "failures.csv", index=False)
PY
for table in penguins failures; do
  "$venv/bin/tabship" train --data "$work/$table.csv" --declaration "tests/data/$table.toml" \
    --registry "$work/multiclass"
  version=$(ls -d "$work"/multiclass/"$table"-full/*/ | sort | tail -n 1)
  "$venv/bin/tabship" parity "$version" --generated-rows 500 --fixture "$work/fixture.json" > /dev/null
  node clients/node/bin/parity.js "$work/fixture.json" "$version"
  vectors "$version"
done
