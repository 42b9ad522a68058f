"""The import layers: protocol below both sides, node and coordinator independent.

`lint-imports` (import-linter, configured in pyproject.toml) enforces the contracts in CI; these
tests keep that configuration honest: every protocol module is covered, the real tree passes,
and a deliberate node -> coordinator import is caught.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "src" / "synthspace"
LINT = Path(sys.executable).with_name("lint-imports")
# Top-level names that are not protocol: the two sides, the CLI and the demo (which may import both).
NOT_PROTOCOL = {"node", "coordinator", "cli", "demo", "__init__", "__main__"}


def _contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def _lint(cwd: Path, src: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_every_protocol_module_is_under_the_protocol_contract() -> None:
    found = {
        p.stem if p.is_file() else p.name
        for p in PKG.iterdir()
        if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))
    } - NOT_PROTOCOL
    protocol = next(c for c in _contracts() if c["name"].startswith("protocol modules"))
    listed = {m.removeprefix("synthspace.") for m in protocol["source_modules"]}
    assert found, "no protocol modules found: wrong package path?"
    assert found - listed == set(), "add these modules to the protocol contract in pyproject.toml"
    assert listed - found == set(), "the protocol contract names modules that do not exist"


def test_the_tree_keeps_every_contract() -> None:
    res = _lint(ROOT, ROOT / "src")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "broken" in res.stdout and "0 broken" in res.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("node/seeds.py", "import synthspace.coordinator.models", "node and coordinator never import each other"),
        ("canonical_json.py", "import synthspace.node.seeds", "protocol modules import neither side"),
        ("coordinator/blobs.py", "import synthspace.cli.main", "the sides never import the CLI"),
    ],
)
def test_a_forbidden_import_breaks_the_build(tmp_path: Path, module: str, line: str, contract: str) -> None:
    """Positive control: the same check CI runs fails when a layer is crossed."""
    shutil.copytree(PKG, tmp_path / "src" / "synthspace", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "src" / "synthspace" / module
    target.write_text(target.read_text() + f"\n{line}  # deliberate layer violation\n")
    res = _lint(tmp_path, tmp_path / "src")
    assert res.returncode == 1, res.stdout + res.stderr
    assert f"{contract}" in res.stdout and "BROKEN" in res.stdout
