#!/usr/bin/env bash
# Installs the pipeline, its extras and the test tools (requirements-test.txt), then runs lint + the test suite on CPU.
set -euo pipefail
cd "$(dirname "$0")"
python -m pip install --quiet -r requirements-test.txt
python -m ruff check .
python -m pytest "$@"
