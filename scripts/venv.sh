# Sourced by the README's commands: the project's own virtual environment (.venv beside
# the repository's root, created when missing), so nothing installed elsewhere on the
# machine can make a command work or pass. CONFSVC_VENV chooses another place.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CONFSVC_VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade "pip>=24"
fi
PY="$VENV/bin/python"
