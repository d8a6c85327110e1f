#!/usr/bin/env bash
# Regenerates runtime/model/onnx_proto/ (the ONNX ModelProto message classes the loader parses model
# files with) and clients/node/src/onnx_ml.proto (the same proto, read by the Node consumer
# with protobufjs) from the onnx-ml.proto of the onnx release pinned in locks/dev.txt:
#
#   locks/onnx_proto.sh [OUT_DIR]      (OUT_DIR defaults to the repository root)
#
# The proto's package is renamed (onnx -> tabship.onnx_ml) so its messages never collide with
# the onnx package's own registration in the same process (training and tests import both); the
# wire format does not depend on package names. Needs the dev environment (onnx, grpcio-tools).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
case "$python" in /*) ;; *) python="$PWD/$python" ;; esac  # used from a temporary folder
out="$(realpath "${1:-.}")"
source_proto="$("$python" -c 'import onnx, pathlib; print(pathlib.Path(onnx.__file__).with_name("onnx-ml.proto"))')"
onnx_version="$("$python" -c 'import onnx; print(onnx.__version__)')"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tabship/runtime/model/onnx_proto" "$out/runtime/model/onnx_proto" "$out/clients/node/src"
{
    echo "// Copied from onnx==$onnx_version onnx/onnx-ml.proto by locks/onnx_proto.sh: do not edit."
    echo "// Only the package is changed (onnx -> tabship.onnx_ml)."
    sed 's/^package onnx;$/package tabship.onnx_ml;/' "$source_proto"
} > "$work/tabship/runtime/model/onnx_proto/onnx_ml.proto"
grep -q '^package tabship.onnx_ml;$' "$work/tabship/runtime/model/onnx_proto/onnx_ml.proto"
(cd "$work" && "$python" -m grpc_tools.protoc -I. --python_out=. --pyi_out=. \
    tabship/runtime/model/onnx_proto/onnx_ml.proto)
for name in onnx_ml_pb2.py onnx_ml_pb2.pyi; do
    {
        echo "# Regenerate with: locks/onnx_proto.sh (grpc_tools.protoc --python_out --pyi_out"
        echo "# on onnx==$onnx_version onnx-ml.proto, package renamed to tabship.onnx_ml)"
        cat "$work/tabship/runtime/model/onnx_proto/$name"
    } > "$out/runtime/model/onnx_proto/$name"
done
cp "$work/tabship/runtime/model/onnx_proto/onnx_ml.proto" "$out/runtime/model/onnx_proto/onnx_ml.proto"
cp "$work/tabship/runtime/model/onnx_proto/onnx_ml.proto" "$out/clients/node/src/onnx_ml.proto"
