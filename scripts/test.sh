#!/usr/bin/env bash
# The test command: install confsvc with its test extras into the project's .venv, then
# run every test (from the repository's root; pytest's arguments pass through).
set -euo pipefail
. "$(dirname "$0")/venv.sh"
"$PY" -m pip install -q --disable-pip-version-check -e "$ROOT[test]"
cd "$ROOT"
export PATH="$VENV/bin:$PATH"
exec "$PY" -m pytest -q -p no:cacheprovider "$@"
