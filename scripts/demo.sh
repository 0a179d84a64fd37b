#!/usr/bin/env bash
# The run command: install confsvc into the project's .venv, then run the demo on the
# sample agenda. Data (confsvc.db, confsvc.secret) goes in the directory you run it from.
set -euo pipefail
. "$(dirname "$0")/venv.sh"
"$PY" -m pip install -q --disable-pip-version-check -e "$ROOT"
exec "$VENV/bin/confsvc" demo "$@"
