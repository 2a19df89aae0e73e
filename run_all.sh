#!/usr/bin/env bash
# The main job: set up, then execute every notebook (or the ones named) with papermill.
#   ./run_all.sh                   quick profile: a 2-core CPU, minutes
#   ./run_all.sh --profile paper   full data, more seeds: meant for a GPU
#   ./run_all.sh 01 03             only these notebooks
# Figures go to figures/, numbers and the claims ledger to results/.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
exec "$PY" -m halfway_utils.infra.runner "$@"
