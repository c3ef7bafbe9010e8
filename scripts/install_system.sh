#!/usr/bin/env bash
# Install the Debian packages the sandbox's tier A needs: bubblewrap (namespaces) and libseccomp2 (the
# seccomp filter, used through PyPI's pyseccomp). Idempotent: skips what is already installed. Tolerant:
# on a machine without apt (macOS, Fedora, ...) it says what to install by hand and exits 0, and
# selftaught then runs at the best tier that works (see docs/sandbox.md; `selftaught doctor` tells).
set -euo pipefail
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
if ! { ldconfig -p 2>/dev/null | grep -q 'libseccomp\.so\.2'; }; then need+=(libseccomp2); fi
if [ ${#need[@]} -eq 0 ]; then
  echo "install_system: bubblewrap and libseccomp2 already present" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_system: no apt-get here; install ${need[*]} with your package manager for sandbox tier A" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "install_system: not root and no sudo; install ${need[*]} as root for sandbox tier A" >&2
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y --no-install-recommends "${need[@]}"
