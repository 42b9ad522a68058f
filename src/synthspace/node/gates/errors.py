"""Errors of the gate runner."""

from synthspace.errors import SynthspaceError


class RunDirError(SynthspaceError):
    """A run directory is missing, incomplete or unreadable."""


class GateReportError(SynthspaceError):
    """A gate report is missing or malformed."""
