#!/usr/bin/env bash
# The serving install, shared by the Dockerfile and the clean-environment test.
#
#   scripts/serve_install.sh install VENV [ROLE]
#                                           create VENV (python -m venv) if needed, install
#                                           locks/ROLE.txt (serve; grpc = serve + grpcio for
#                                           --grpc-port; s3 = serve + obstore for s3:// model
#                                           URIs; sign = serve + cryptography for
#                                           TABSHIP_TRUSTED_KEYS), then tabship itself with
#                                           --no-deps
#   scripts/serve_install.sh start VENV [tabship serve options...]
#                                           exec `tabship serve` from VENV (MODEL_URI and the
#                                           TABSHIP_* variables come from the environment)
#
# Only the serve lock is installed: onnxruntime, numpy, starlette, uvicorn and their own
# dependencies. Never scikit-learn, xgboost, pandas, scipy, skl2onnx, onnxmltools or joblib.
# PYTHON selects the interpreter that creates the venv (default: python3).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
usage() { echo "usage: $0 install VENV [serve|grpc|s3|sign] | start VENV [tabship serve options]" >&2; exit 2; }
[ $# -ge 2 ] || usage
action="$1"
venv="$2"
shift 2

case "$action" in
    install)
        role="${1:-serve}"
        case "$role" in serve|grpc|s3|sign) ;; *) usage ;; esac
        if [ ! -x "$venv/bin/python" ]; then
            "${PYTHON:-python3}" -m venv "$venv"
        fi
        "$venv/bin/python" -m pip install --quiet --no-input --requirement "$repo/locks/$role.txt"
        "$venv/bin/python" -m pip install --quiet --no-input --no-deps "$repo"
        # the install must not have pulled in the training stack
        "$venv/bin/python" - <<'PY'
import importlib.util
import sys

forbidden = ["sklearn", "xgboost", "pandas", "scipy", "skl2onnx", "onnxmltools", "joblib"]
present = [name for name in forbidden if importlib.util.find_spec(name) is not None]
if present:
    sys.exit(f"serve_install.sh: the serving environment contains {present}")
import tabship.runtime.rest.app  # noqa: F401  (the server's whole import graph)
print("serve_install.sh: serving environment ready (no training libraries)")
PY
        if [ "$role" = grpc ]; then
            "$venv/bin/python" -c 'import tabship.runtime.grpc.server' # the gRPC listener imports
        fi
        ;;
    start)
        exec "$venv/bin/tabship" serve "$@"
        ;;
    *)
        usage
        ;;
esac
