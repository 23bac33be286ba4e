#!/usr/bin/env bash
# Set up the full development environment (.venv: all four parts, editable) and run
# lint and the whole test suite. Extra arguments go to pytest.
. "$(dirname "$0")/_env.sh"
cd "$ROOT"
start=$(date +%s)
make_venv .venv -e ./specs -e ./zoo -e './runtime[dask]' -e './trainer' -r requirements-dev.txt
# Packages used without their declared dependencies (see the file for why).
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
  -c constraints.txt -r requirements-nodeps.txt
# The annotation page's tests drive the system's Chromium (Debian's package; as root in CI).
command -v chromium >/dev/null 2>&1 ||
  { [ "$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } ||
  echo "no chromium: the browser tests skip"
echo "environment ready in $(( $(date +%s) - start ))s"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports --no-cache --no-logo
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
echo "tests finished in $(( $(date +%s) - start ))s (set-up included)"
