"""Browsing and pulling catalog artifacts; a pull is an audit that keeps the files.

`pull` downloads envelope and data to a temporary directory, runs every audit check except
the lineage walk (envelope signature, publisher key, data digest, log inclusion, checkpoint
consistency, retraction, gates), and only then moves the bundle into the target directory:
nothing is written there for an artifact that does not verify.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthspace.errors import SynthspaceError
from synthspace.node.audit import ENVELOPE_FILE, AuditFailed, AuditReport

if TYPE_CHECKING:
    from synthspace.node.audit import Auditor


class PullError(SynthspaceError):
    """A pull cannot go ahead (target directory holds another artifact, ...)."""


def pull(auditor: Auditor, artifact_id: str, out_dir: Path | str) -> AuditReport:
    """Verify `artifact_id` and write its bundle (data, envelope.json, receipt.json,
    statement.json, audit.json) into `out_dir`. Raises AuditFailed naming the failed check."""
    from synthspace import artifact

    out = Path(out_dir)
    existing = out / ENVELOPE_FILE
    if existing.is_file():
        try:
            held = artifact.artifact_id(existing.read_bytes())
        except SynthspaceError:
            held = "an unreadable envelope"
        if held != artifact_id:
            raise PullError(f"{out} already holds artifact {held}; pull into an empty directory")
    elif out.exists() and not out.is_dir():
        raise PullError(f"{out} exists and is not a directory")
    report = auditor.audit_artifact(artifact_id, lineage=False, keep_dir=out)
    if not report.ok:
        raise AuditFailed(report)
    from synthspace.node.dataset_card import write_dataset_card

    write_dataset_card(out)  # README.md: a Hugging Face dataset card from the verified Statement
    return report


def load_bundle_data(bundle_dir: Path | str) -> Any:
    """The pulled dataset as a pandas DataFrame (the file named by the bundle's statement)."""
    import json

    import pandas as pd

    bundle = Path(bundle_dir)
    statement = json.loads((bundle / "statement.json").read_text())
    return pd.read_parquet(bundle / statement["subject"][0]["name"])
