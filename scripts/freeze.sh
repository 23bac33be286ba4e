#!/usr/bin/env bash
# Regenerate constraints.txt from the full test environment (.venv) after changing pins.
. "$(dirname "$0")/_env.sh"
cd "$ROOT"
{
  echo "# Versions tested together (pip freeze of the full test environment on Linux x86_64, Python 3.11)."
  echo "# scripts/*.sh install with -c constraints.txt; regenerate with scripts/freeze.sh."
  .venv/bin/python -m pip freeze --exclude-editable | grep -viE '^(-e|dpk-)'
} > constraints.txt
echo "wrote constraints.txt ($(grep -vc '^#' constraints.txt) pins)"
