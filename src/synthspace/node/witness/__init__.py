"""The node as a witness of coordinator logs (C2SP tlog-witness).

`Witness.add_checkpoint` is the whole decision: verify the log's signature, check the request's
old size against the last checkpoint this witness cosigned, verify the consistency proof, then
record the new checkpoint and cosign it. `serve_witness` exposes it over HTTP.
"""

from synthspace.node.witness.service import (
    AddCheckpointResult,
    Witness,
    WitnessConfig,
    load_witness,
)
from synthspace.node.witness.state import WitnessState

__all__ = ["AddCheckpointResult", "Witness", "WitnessConfig", "WitnessState", "load_witness"]
