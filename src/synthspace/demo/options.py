"""What `synthspace demo` was asked to do, its file names and its errors."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from synthspace.errors import SynthspaceError

MARKER_FILE = ".synthspace-demo"
PROCESS_FILE = "processes.json"
SUMMARY_FILE = "summary.json"
DATABASE_URL_ENV = "SYNTHSPACE_DATABASE_URL"
LOG_ORIGIN = "demo.synthspace.local/log"
GENERATION_ATTEMPTS = 5  # runs per org (each with a new sampling seed) before the demo gives up


class DemoError(SynthspaceError):
    """The demo cannot start or a step of it failed; the message names the step and the fix."""


class WorkdirError(DemoError):
    """The work directory is not one the demo may use (or wipe)."""



@dataclass
class DemoOptions:
    """What `synthspace demo` was asked to do."""

    workdir: Path = Path("demo-out")
    records: int | None = None  # per org; None = 8 (or 3 with `small`)
    small: bool = False
    rounds: int = 2
    local_steps: int | None = None  # None = 4 (or 1 with `small`)
    keep_running: bool = False
    keep_workdir: bool = False
    port: int | None = None  # coordinator port; None = a free one
    json_summary: Path | None = None
    threads: int | None = None  # torch threads per process; None = half the cores (at least 1)

    @property
    def torch_threads(self) -> int:
        # Half the cores: the two ClientApps train at the same time, and torch's intra-op threads
        # on an oversubscribed CPU slow generation down tenfold (measured on the 2-core box).
        return self.threads if self.threads is not None else max(1, (os.cpu_count() or 2) // 2)

    @property
    def records_per_org(self) -> int:
        return self.records if self.records is not None else (3 if self.small else 8)

    @property
    def steps_per_round(self) -> int:
        return self.local_steps if self.local_steps is not None else (1 if self.small else 4)

    def validate(self) -> None:
        if self.records_per_org < 1:
            raise DemoError(f"--records must be at least 1, got {self.records_per_org}")
        if self.rounds < 1:
            raise DemoError(f"--rounds must be at least 1, got {self.rounds}")
        if self.steps_per_round < 1:
            raise DemoError(f"--local-steps must be at least 1, got {self.steps_per_round}")
        if self.torch_threads < 1:
            raise DemoError(f"--threads must be at least 1, got {self.torch_threads}")
        if self.port is not None and not 0 < self.port < 65536:
            raise DemoError(f"--port must be between 1 and 65535, got {self.port}")
