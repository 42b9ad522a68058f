"""Errors of the gate runner. A bad run directory is the generation module's `RunDirError`:
one class for every reader of the run-directory contract (docs/run-directory.md)."""

from synthspace.errors import SynthspaceError
from synthspace.node.generate.run_dir import RunDirError


class GateReportError(SynthspaceError):
    """A gate report is missing or malformed."""


__all__ = ["GateReportError", "RunDirError"]
