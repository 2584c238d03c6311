#!/usr/bin/env bash
# What the demo's browser test (tests/demo/test_browser.py) needs on a fresh Debian machine:
# Debian's Chromium at /usr/bin/chromium. The Playwright Python package comes from the `dev`
# extra (pip install -e ".[dev,demo]"); Playwright's own browser download (`playwright install`)
# is NOT used: the test drives the system Chromium.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
    exit 0
fi
bash "$(dirname "$0")/apt-install.sh" chromium fonts-dejavu-core
/usr/bin/chromium --version || true
