#!/usr/bin/env bash
# Installs every dependency (from scratch on a fresh machine) and runs lint + the test suite on CPU.
set -euo pipefail
cd "$(dirname "$0")"
python -m pip install --quiet -r requirements.txt
python -m ruff check .
python -m pytest "$@"
