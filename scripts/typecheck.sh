#!/usr/bin/env bash
# mypy over the three import packages. They live in three folders mapped onto one package
# tree, which mypy cannot follow through the editable install, so check a plain copy.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation --target "$tmp" . >/dev/null 2>&1
(cd "$tmp" && MYPYPATH="$tmp" "$OLDPWD/.venv/bin/mypy" --config-file "$OLDPWD/pyproject.toml" -p synthspace)
