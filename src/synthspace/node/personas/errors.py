"""Named errors of the personas layer; each message says what to fix."""

from __future__ import annotations

from synthspace.errors import ConfigError, SynthspaceError


class PersonaError(SynthspaceError):
    """Base of the persona errors."""


class SpecError(ConfigError):
    """A locale spec is malformed; the message names the table (variable) at fault."""


class EvidenceError(PersonaError):
    """A `--where` condition names an unknown variable or state, or is impossible under the spec."""


class PersonaSetError(PersonaError):
    """A persona Parquet file cannot be read or does not have the expected columns."""


class NarrativeError(PersonaError):
    """Narratives could not be written (unknown mode, backend failure, wrong number of texts)."""
