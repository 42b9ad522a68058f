"""synthspace: the shared protocol of the synthetic-data space.

The protocol modules here (keys, DSSE, lineage, transparency log, HTTP signatures, artifact
format) are imported by both `synthspace.node` and `synthspace.coordinator`, and import neither.
"""

__version__ = "0.1.0"
