"""Crash-safe writes: old or new content, never half; temp files never left behind."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from synthspace.atomic_files import (
    atomic_output,
    atomic_write_bytes,
    atomic_write_json,
    create_once,
)


def test_replace_and_mode(tmp_path: Path) -> None:
    target = tmp_path / "a.bin"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two", mode=0o600)
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_a_failed_write_keeps_the_old_content(tmp_path: Path) -> None:
    target = tmp_path / "c.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_output(target) as fh:
        fh.write(b'{"v": 2, "half')
        raise RuntimeError("crash mid-write")
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["c.json"]


def test_create_once_keeps_the_first_value(tmp_path: Path) -> None:
    target = tmp_path / "salt"
    assert create_once(target, b"first") is True
    assert create_once(target, b"second") is False
    assert target.read_bytes() == b"first"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["salt"]
