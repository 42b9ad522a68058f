#!/usr/bin/env bash
# mypy over the three import packages. They live in three folders mapped onto one package tree
# (src/synthspace, node -> synthspace.node, coordinator -> synthspace.coordinator), which mypy
# cannot follow through the editable install, so check a plain copy laid out as installed and
# report errors under their repository paths (src/synthspace/..., node/..., coordinator/...).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
py="$repo/.venv/bin/python"
[ -x "$py" ] || py=python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
copy() {  # copy a source folder without caches or compiled files
  mkdir -p "$2"
  (cd "$1" && find . -name '__pycache__' -prune -o \( -name '*.py' -o -name '*.pyi' -o -name 'py.typed' \) -print0 \
    | xargs -0 -r cp --parents -t "$2")
}
copy src/synthspace "$tmp/synthspace"
copy node "$tmp/synthspace/node"
copy coordinator "$tmp/synthspace/coordinator"
status=0
(cd "$tmp" && MYPYPATH="$tmp" "$py" -m mypy --config-file "$repo/pyproject.toml" \
  --cache-dir "$repo/.mypy_cache" -p synthspace) > "$tmp/out.txt" 2>&1 || status=$?
sed -e 's#^synthspace/node/#node/#' -e 's#^synthspace/coordinator/#coordinator/#' \
  -e 's#^synthspace/#src/synthspace/#' "$tmp/out.txt"
exit "$status"
