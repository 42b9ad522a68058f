"""Digests recorded in lineage: canonical-JSON sha256 for specs, streamed sha256 for files.

The protocol module `synthspace.canonical_json` is the one implementation; until it is
available (it raises NotImplementedError while stubbed) the same RFC 8785 + sha256 is done
here with the `rfc8785` package, so the digests are identical either way.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any


def canonical_digest(value: Any) -> str:
    """'sha256:<hex>' of the RFC 8785 canonical JSON of `value`."""
    from synthspace import canonical_json

    try:
        return canonical_json.digest(value)
    except NotImplementedError:  # protocol stub not landed yet: same algorithm, locally
        import rfc8785

        return "sha256:" + hashlib.sha256(rfc8785.dumps(value)).hexdigest()


def file_digest(path: str | Path) -> str:
    """'sha256:<hex>' of a file's bytes, streamed."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()
