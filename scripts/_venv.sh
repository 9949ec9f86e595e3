# Shared by run-kiosk and run-tests: make .venv and install the project into it.
# Needs only python3 (3.11+) and pip. Sourced, not run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

ensure_venv() {
  local extras="$1"   # "" or "[test]"
  if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "IMS Consent Kiosk needs Python 3.11 or newer; this python3 is $(python3 --version 2>&1)." >&2
    exit 1
  fi
  if [ ! -x "$PY" ]; then
    echo "Creating a virtual environment in .venv ..." >&2
    if ! python3 -m venv "$VENV" 2>/dev/null; then
      # Debian/Ubuntu ship venv separately; fall back to virtualenv from pip.
      rm -rf "$VENV"
      python3 -m pip install --user --quiet virtualenv
      python3 -m virtualenv --quiet "$VENV"
    fi
  fi
  # Reinstall only when pyproject.toml changed or other extras are wanted.
  local stamp="$VENV/.installed$extras"
  if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
    echo "Installing IMS Consent Kiosk$extras into .venv ..." >&2
    "$PY" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$PY" -m pip install --quiet --disable-pip-version-check -e "$ROOT$extras"
    touch "$stamp"
  fi
}
