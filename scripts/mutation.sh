#!/usr/bin/env bash
# Mutation testing of the decision path (issue 21): mutmut mutates evidence/ and each claim's module one
# change at a time ([tool.mutmut] in pyproject.toml says which) and runs the tests that cover the mutated
# function; a mutant the tests do not fail on "survived". Prints the score and the survivors; the last
# score is recorded in CONTRIBUTING.md. Not part of ./run_tests.sh: it takes most of an hour on 2 cores.
#   scripts/mutation.sh                       every module
#   scripts/mutation.sh 'halfway_utils.evidence.verdicts*'   mutants whose name matches
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
export HALFWAY_DATA="${HALFWAY_DATA:-$PWD/data}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
"$PY" -m mutmut run --max-children "${MUTMUT_CHILDREN:-2}" "$@" || true  # survivors make it exit non-zero
"$PY" -m mutmut export-cicd-stats >/dev/null
"$PY" - <<'PY'
import json
stats = json.load(open("mutants/mutmut-cicd-stats.json"))
judged = stats["killed"] + stats["survived"] + stats.get("timeout", 0) + stats.get("suspicious", 0)
score = (stats["killed"] + stats.get("timeout", 0)) / judged if judged else float("nan")
print(f"mutation score: {score:.1%} ({stats['killed']} killed, {stats.get('timeout', 0)} timed out, "
      f"{stats['survived']} survived, {stats.get('no_tests', 0)} not covered, of {stats['total']})")
PY
"$PY" -m mutmut results
