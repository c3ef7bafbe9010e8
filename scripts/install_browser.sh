#!/usr/bin/env bash
# Install Debian's headless Chromium for the report's browser tests (tests/integration/test_report_browser.py).
# Idempotent: does nothing when /usr/bin/chromium already runs. Needs root (CI runs as root) or sudo.
# Why Debian's package: test tools that download their own browser build cannot reach the network here.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && chromium --version >/dev/null 2>&1; then
  echo "chromium present: $(chromium --version)" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "error: installing chromium needs root; run as root or install sudo" >&2; exit 2; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "installed: $(chromium --version)" >&2
