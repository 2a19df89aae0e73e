#!/usr/bin/env bash
# The test command: set up, then run the package tests and execute every notebook
# (quick profile, nbval). Extra arguments go to pytest, e.g. ./run_tests.sh tests -k data
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
# The site's test opens it in a real browser (Debian's chromium): missing is fatal only in CI.
scripts/install_browser.sh || [[ "${CI:-}" != true ]]
exec "$PY" -m pytest "$@"
