#!/usr/bin/env bash
# mypy over the synthspace package (src layout; the packages and path are in pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
[ -x "$py" ] || py=python3
exec "$py" -m mypy
