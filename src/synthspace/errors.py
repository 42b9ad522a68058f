"""Named exceptions shared by every layer.

Each carries a message a user can act on; the CLI prints it on one line and exits non-zero,
the coordinator turns it into a 4xx JSON body.
"""


class SynthspaceError(Exception):
    """Base class of every error synthspace raises on purpose."""


class ConfigError(SynthspaceError):
    """A configuration file, recipe or spec is invalid."""


class VerificationError(SynthspaceError):
    """A signature, digest, proof or checkpoint did not verify."""
