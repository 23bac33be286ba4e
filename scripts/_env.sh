# Shared by scripts/*.sh: find Python 3.11 and make (or reuse) a virtual environment.
# Usage: . scripts/_env.sh; make_venv DIR PIP_ARGS...
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

find_python() {
  for candidate in "${DPK_PYTHON:-}" python3.11 python3 python; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "error: dpk needs Python 3.11 (set DPK_PYTHON to its path)" >&2
  return 1
}

# make_venv DIR ARGS...: create DIR if needed, then pip install ARGS with the tested pins.
make_venv() {
  local dir="$1"; shift
  if [ ! -x "$dir/bin/python" ]; then
    "$(find_python)" -m venv "$dir"
  fi
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24" 2>/dev/null || true
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check -c "$ROOT/constraints.txt" "$@"
}
