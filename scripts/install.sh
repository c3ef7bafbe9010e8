#!/usr/bin/env bash
# Install selftaught into ./.venv. Idempotent: a second run only checks.
#   ./scripts/install.sh         the library, the CLI, the embedded model, the HTML report, the sandbox's
#                                system packages (bubblewrap, libseccomp2)
#   ./scripts/install.sh --dev   also what the tests need: pytest, the OpenAI-compatible llama.cpp server,
#                                Ray, and Chromium for the report's browser tests
# Why a script: llama-cpp-python compiles llama.cpp on install, and its default (native) build segfaults
# on CPUs that advertise AMX they cannot run; scripts/llama_cmake_args.sh picks safe flags from this CPU.
# pip caches the built wheel (~/.cache/pip), so only the first install on a machine pays the ~5 min compile.
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    *) echo "error: unknown option '$arg'; use ./scripts/install.sh [--dev]" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: selftaught needs Python >= 3.11 (found: $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 2
fi
bash scripts/install_system.sh
extras=embedded,report
if [ "$dev" = 1 ]; then
  extras=embedded,report,server,ray,dev
  [ ! -f scripts/install_browser.sh ] || bash scripts/install_browser.sh
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
export CMAKE_ARGS="${CMAKE_ARGS:-$(bash scripts/llama_cmake_args.sh)}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}"
.venv/bin/python -m pip install --quiet --upgrade pip
echo "installing selftaught[$extras] into .venv (the first install compiles llama.cpp: about 5 minutes)" >&2
.venv/bin/python -m pip install --quiet --progress-bar off -e ".[$extras]"
