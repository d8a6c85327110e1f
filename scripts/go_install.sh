#!/usr/bin/env bash
# Installs and tests the Go consumer (clients/go) on a fresh machine.
#
# The Go binding (github.com/yalue/onnxruntime_go, from the Go module proxy, pinned in go.sum)
# loads onnxruntime's C library at run time. That library is taken from the npm package
# onnxruntime-node (its Linux x64 CPU build, bin/napi-v6/linux/x64/libonnxruntime.so.1): the
# registry's newest onnxruntime, 1.31.1, nearest to the Python side's 1.32.0 (Maven Central's
# jar stops at 1.29.0). Version and both SHA-256 hashes are pinned here; a mismatch stops.
set -euo pipefail
ORT_VERSION=1.31.1
TARBALL_SHA256=d7a3de2b1bba92614abc74af909cc0ba4f4dd5347735418794edeb58cfef2d22
LIBRARY_SHA256=f19a4da48c4c65e0cdccff82354482f657fa91a3455b66174195b94ca55b0e6f
MEMBER=package/bin/napi-v6/linux/x64/libonnxruntime.so.1

cd "$(dirname "${BASH_SOURCE[0]}")/../clients/go"
for tool in go npm gcc; do
    command -v "$tool" >/dev/null 2>&1 || { echo "go_install.sh: $tool is required" >&2; exit 1; }
done
library=lib/libonnxruntime.so.1
if ! echo "$LIBRARY_SHA256  $library" | sha256sum --check --status 2>/dev/null; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
    tarball="$work/onnxruntime-node-$ORT_VERSION.tgz"
    echo "$TARBALL_SHA256  $tarball" | sha256sum --check --quiet \
        || { echo "go_install.sh: onnxruntime-node $ORT_VERSION tarball hash differs" >&2; exit 1; }
    tar -xzf "$tarball" -C "$work" "$MEMBER"
    echo "$LIBRARY_SHA256  $work/$MEMBER" | sha256sum --check --quiet \
        || { echo "go_install.sh: libonnxruntime.so.1 hash differs" >&2; exit 1; }
    mkdir -p lib
    install -m 0644 "$work/$MEMBER" "$library.tmp" && mv "$library.tmp" "$library"
fi
export TABSHIP_ONNXRUNTIME_LIB="$PWD/$library"
go vet ./...
go test -count=1 ./...
go build -o bin/tabship-go ./cmd/tabship-go
echo "go_install.sh: clients/go built and tested (onnxruntime $ORT_VERSION, $library)"
