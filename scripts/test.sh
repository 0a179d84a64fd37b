#!/usr/bin/env bash
# The test command: install confsvc with its test extras, then run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --disable-pip-version-check -e ".[test]"
exec python3 -m pytest -q -p no:cacheprovider "$@"
