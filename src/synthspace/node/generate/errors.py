"""The generation run directory's error, apart so that the manifest and the run directory
modules (which each read the other's layout) both import it without importing each other."""

from __future__ import annotations

from synthspace.errors import SynthspaceError


class RunDirError(SynthspaceError):
    """A run directory is unusable: locked by another run, of a different recipe, or damaged."""
