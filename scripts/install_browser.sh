#!/usr/bin/env bash
# Make sure a headless Chromium is there for the site's browser test (tests/test_site.py drives
# it through playwright; no browser is ever downloaded). Idempotent: does nothing when one is on
# PATH (or $HALFWAY_CHROMIUM names one); otherwise installs Debian's `chromium` with apt-get, as
# root or through password-less sudo, and fails with what to do where it cannot.
set -euo pipefail
say() { echo "[install_browser] $*"; }

# The same names, in the same order, as tests/test_site.py looks for.
for name in "${HALFWAY_CHROMIUM:-}" chromium chromium-browser google-chrome google-chrome-stable; do
    if [[ -n "$name" ]] && command -v "$name" >/dev/null 2>&1; then
        say "browser present: $(command -v "$name")"
        exit 0
    fi
done
if [[ "$(id -u)" -eq 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "[install_browser] no chromium on PATH and no root to install one: run" \
         "'sudo apt-get install -y chromium' (Debian/Ubuntu) or set HALFWAY_CHROMIUM to a Chromium binary" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "[install_browser] no chromium on PATH and no apt-get: install Chromium with this system's" \
         "package manager so that 'chromium' is on PATH (or set HALFWAY_CHROMIUM)" >&2
    exit 1
fi
say "installing Debian's chromium (apt-get)"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null 2>&1 || { echo "[install_browser] apt-get ran but 'chromium' is not on PATH" >&2; exit 1; }
say "chromium installed: $(chromium --version 2>/dev/null || command -v chromium)"
