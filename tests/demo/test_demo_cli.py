"""`synthspace demo` input handling and process bookkeeping (fast: no model, no servers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "synthspace.cli.main", *args], capture_output=True, text=True, timeout=timeout
    )


def test_refuses_a_foreign_non_empty_workdir_and_touches_nothing(tmp_path: Path) -> None:
    precious = tmp_path / "thesis.tex"
    precious.write_text("do not delete")
    r = cli("demo", "--workdir", str(tmp_path))
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].startswith("error: ") and "not made by `synthspace demo`" in r.stderr
    assert "Traceback" not in r.stderr
    assert precious.read_text() == "do not delete" and sorted(p.name for p in tmp_path.iterdir()) == ["thesis.tex"]


def test_a_file_as_workdir_is_a_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    r = cli("demo", "--workdir", str(f))
    assert r.returncode == 1 and "is not a directory" in r.stderr and "Traceback" not in r.stderr


def test_bad_sizes_are_rejected_before_anything_starts(tmp_path: Path) -> None:
    for args in (["--records", "0"], ["--rounds", "0"], ["--local-steps", "0"]):
        r = cli("demo", "--workdir", str(tmp_path / "w"), *args)
        assert r.returncode != 0 and "Traceback" not in r.stderr, args
        assert not (tmp_path / "w").exists()
    r = cli("demo", "--workdir", str(tmp_path / "w"), "--port", "70000")
    assert r.returncode == 1 and "--port" in r.stderr


def test_stop_with_nothing_running(tmp_path: Path) -> None:
    r = cli("demo", "--stop", "--workdir", str(tmp_path))
    assert r.returncode == 0 and "no demo processes are running" in r.stdout


def test_stop_ends_recorded_processes_but_never_a_reused_pid(tmp_path: Path) -> None:
    from synthspace.demo.options import PROCESS_FILE
    from synthspace.demo.processes import ProcessInfo, _proc_start_time, stop_demo

    ours = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
    try:
        entries = [
            ProcessInfo(name="coordinator", pid=ours.pid, started=_proc_start_time(ours.pid) or 0.0),
            # Same pid number as a live process but another start time: a recycled pid, not ours.
            ProcessInfo(name="superlink", pid=stranger.pid, started=(_proc_start_time(stranger.pid) or 0.0) + 12345),
        ]
        (tmp_path / PROCESS_FILE).write_text(json.dumps([e.__dict__ for e in entries]))
        stopped = stop_demo(tmp_path)
        assert [p.name for p in stopped] == ["coordinator"]
        assert ours.wait(timeout=20) != 0
        time.sleep(0.2)
        assert stranger.poll() is None
        saved = json.loads((tmp_path / PROCESS_FILE).read_text())
        assert all(e["stopped"] for e in saved)
        assert stop_demo(tmp_path) == []  # idempotent
    finally:
        for p in (ours, stranger):
            if p.poll() is None:
                os.killpg(p.pid, 9)
                p.wait(timeout=10)


def test_wipes_only_its_own_workdir_at_start(tmp_path: Path) -> None:
    from synthspace.demo.options import MARKER_FILE, WorkdirError
    from synthspace.demo.workdir import prepare_workdir

    work = tmp_path / "w"
    made = prepare_workdir(work, keep=False)
    assert (made / MARKER_FILE).is_file()
    (made / "nodes").mkdir()
    (made / "nodes" / "old.txt").write_text("from the last run")
    prepare_workdir(work, keep=True)
    assert (made / "nodes" / "old.txt").is_file()
    prepare_workdir(work, keep=False)
    assert sorted(p.name for p in made.iterdir()) == [MARKER_FILE]
    (made / MARKER_FILE).unlink()
    (made / "mine.txt").write_text("x")
    with pytest.raises(WorkdirError):
        prepare_workdir(work, keep=False)
    assert (made / "mine.txt").is_file()
