#!/usr/bin/env bash
# The main job on the built-in data: set up, train both variants, export them, gate them,
# then serve the released shoppers-full model on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh train
venv=${TABSHIP_VENV:-.venv}
registry=${TABSHIP_REGISTRY:-models}
"$venv/bin/tabship" train --registry "$registry" "$@"
latest=$(ls -d "$registry"/shoppers-full/*/ | sort | tail -n 1)
port=${TABSHIP_PORT:-8000}
cat <<MSG

Serving $latest on http://127.0.0.1:$port (Ctrl-C to stop). Try:

  curl -s http://127.0.0.1:$port/v1/predict -H 'content-type: application/json' \\
    -d '{"Administrative": 2, "Administrative_Duration": 80.5, "Informational": 0,
         "Informational_Duration": 0, "ProductRelated": 31, "ProductRelated_Duration": 1200.0,
         "BounceRates": 0.004, "ExitRates": 0.02, "PageValues": 18.7, "SpecialDay": 0,
         "Month": "Nov", "OperatingSystems": 2, "Browser": 2, "Region": 1, "TrafficType": 2,
         "VisitorType": "Returning_Visitor", "Weekend": false}'

MSG
exec "$venv/bin/tabship" serve --model "$latest" --host 127.0.0.1 --port "$port"
