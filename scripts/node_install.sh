#!/usr/bin/env bash
# Installs the Node.js consumer (clients/node) from its lock file, on a fresh machine.
#
# onnxruntime-node's Linux CPU library ships inside the npm package; its postinstall script
# would try to download CUDA libraries from outside the npm registry, which fails here, so it
# is told to skip that (ONNXRUNTIME_NODE_INSTALL=skip). Needs Node.js >= 20 and npm.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../clients/node"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "node_install.sh: Node.js >= 20 and npm are required (e.g. apt-get install nodejs npm)" >&2
    exit 1
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
    echo "node_install.sh: Node.js >= 20 is required, found $(node --version)" >&2
    exit 1
fi

ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund

# the native binding must load, on the CPU
node --input-type=module -e "
import ort from 'onnxruntime-node';
console.log('onnxruntime-node', ort.env.versions.node, 'loaded;', 'node', process.version);
"
