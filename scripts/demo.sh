#!/usr/bin/env bash
# The run command: install confsvc, then run the demo on the sample agenda (SQLite in ./confsvc.db).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --disable-pip-version-check -e .
exec confsvc demo "$@"
