#!/usr/bin/env bash
# A core install (no extras), as `pip install selftaught` gives it, checked in a fresh venv: build the sdist
# and, from it, the wheel (python -m build: so the sdist is complete), install the wheel, use the CLI. The
# embedded model is an extra, so `doctor` and `run` must say in one line which one to install.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pip_install() {
  "$1/bin/python" -m pip install --quiet --progress-bar off --disable-pip-version-check "${@:2}" \
    > "$work/pip.log" 2>&1 || fail "pip install ${*:2}" "$(tail -5 "$work/pip.log")"
}
fail() { echo "core install check FAILED ($1): $2" >&2; exit 1; }

"$PY" -m venv "$work/build-env"
pip_install "$work/build-env" build
"$work/build-env/bin/python" -m build --outdir "$work/dist" . > "$work/build.log" 2>&1 \
  || fail build "$(tail -5 "$work/build.log")"
for artefact in "$work"/dist/*.whl; do
  name=$(basename "$artefact")
  "$PY" -c 'import sys, zipfile; sys.exit("selftaught/py.typed" not in zipfile.ZipFile(sys.argv[1]).namelist())' \
    "$artefact" || fail "$name" "the wheel lacks selftaught/py.typed (type checkers would ignore its hints)"
  env="$work/env-$name"
  "$PY" -m venv "$env"
  pip_install "$env" "$artefact"
  cd "$work"  # not the checkout: the installed package must work on its own
  "$env/bin/selftaught" --help > /dev/null || fail "$name" "selftaught --help"
  "$env/bin/selftaught" tasks list > /dev/null || fail "$name" "selftaught tasks list"
  doctor=$("$env/bin/selftaught" doctor 2>&1 || true)
  grep -q "pip install 'selftaught\[embedded\]'" <<< "$doctor" || fail "$name" "doctor: $doctor"
  set +e
  run=$("$env/bin/selftaught" run --iterations 0 2>&1)
  code=$?
  set -e
  [ "$code" = 2 ] && [ "$(wc -l <<< "$run")" = 1 ] && grep -q "pip install 'selftaught\[embedded\]'" <<< "$run" \
    || fail "$name" "run (exit $code): $run"
  [ ! -e runs ] || fail "$name" "run created a run directory although it could not start"
  cd - > /dev/null
done
echo "core install: the sdist and its wheel build, the wheel installs without extras, and the CLI works" >&2
