"""Fixtures of the gate tests; the builders live in gates_helpers.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gates_helpers import RunFactory, build_run


@pytest.fixture()
def make_run(tmp_path: Path) -> RunFactory:
    """Factory fixture around build_run with a fresh name per call."""
    counter = {"n": 0}

    def factory(records: list[Any], **kwargs: Any) -> Path:
        counter["n"] += 1
        return build_run(tmp_path, f"run{counter['n']}", records, **kwargs)

    return factory
