#!/usr/bin/env bash
# The main job: set up, then execute every notebook (or the ones named) with papermill.
#   ./run_all.sh                   quick profile: a 2-core CPU, minutes
#   ./run_all.sh --profile paper   full data, more seeds: meant for a GPU
#   ./run_all.sh 01 03             only these notebooks
#   ./run_all.sh 01 -p seeds=[3,4] -p n_pairs=100   parameters on top of the profile
#   ./run_all.sh --help            every option
# Figures go to figures/, numbers and the claims ledger to results/.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
exec "$PY" -m halfway_utils.infra.runner "$@"
