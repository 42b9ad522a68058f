"""The demo's work directory: only one the demo made (or an empty one) is ever wiped."""

from __future__ import annotations

import shutil
from pathlib import Path

from synthspace.demo.options import MARKER_FILE, WorkdirError
from synthspace.demo.processes import stop_demo


def prepare_workdir(workdir: Path, keep: bool) -> Path:
    """Make WORKDIR ready: stop a previous demo's processes, then wipe it (unless `keep`).

    Only a directory the demo made (it holds MARKER_FILE) or an empty one is ever wiped.
    """
    workdir = workdir.expanduser().resolve()
    if workdir.exists() and not workdir.is_dir():
        raise WorkdirError(f"{workdir} exists and is not a directory; pass another --workdir")
    if workdir.is_dir() and any(workdir.iterdir()) and not (workdir / MARKER_FILE).is_file():
        raise WorkdirError(
            f"{workdir} is not empty and was not made by `synthspace demo`; refusing to use it "
            "(pass an empty or new --workdir)"
        )
    stop_demo(workdir)  # a previous --keep-running demo here: its processes hold the ports and files
    if workdir.is_dir() and not keep:
        for child in workdir.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER_FILE).write_text("made by `synthspace demo`; wiped by its next run\n", encoding="utf-8")
    return workdir
