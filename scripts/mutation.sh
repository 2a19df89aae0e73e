#!/usr/bin/env bash
# Mutation testing of the decision path (issue 21): mutmut mutates evidence/ and each claim's module one
# change at a time ([tool.mutmut] in pyproject.toml says which) and runs the tests that cover the mutated
# function; a mutant the tests do not fail on "survived". Prints the score and the survivors; the last
# score is recorded in docs/mutation.md (CONTRIBUTING cites it). Not part of ./run_tests.sh: a whole run takes
# 2 to 4 hours on 2 cores (974 mutants took 37 min beside other jobs), hence the --sample of mutation_report.py.
#   scripts/mutation.sh                       every module
#   scripts/mutation.sh 'halfway_utils.evidence.verdicts*'   mutants whose name matches
# Then `python scripts/mutation_report.py --write` records the score and every survivor in docs/mutation.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
export HALFWAY_DATA="${HALFWAY_DATA:-$PWD/data}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
"$PY" -m mutmut run --max-children "${MUTMUT_CHILDREN:-2}" "$@" || true  # survivors make it exit non-zero
"$PY" scripts/mutation_report.py  # the score per module and the survivors
