"""Where the Flower apps live, named once for both sides.

The coordinator writes these references into the Flower app bundle it hands the SuperLink; the
SuperNodes load the ClientApp from the same string. Keeping them here (a protocol module that
imports neither side) means the coordinator never spells out a node module path itself.
"""

from __future__ import annotations

SERVER_APP = "synthspace.coordinator.federated.server_app:app"
"""`module:attribute` of the Flower ServerApp (runs beside the SuperLink)."""

CLIENT_APP = "synthspace.node.federated.client_app:app"
"""`module:attribute` of the Flower ClientApp (runs inside each organisation's SuperNode)."""

SECAGG_CLIENT_APP = "synthspace.node.federated.client_app:secagg_app"
"""The same ClientApp behind Flower's `secaggplus_mod`: train replies are masked (SecAgg+)."""

DP_WEIGHT_KEY = "dp-weight"
"""Metric every ClientApp reply carries as 1.0: with DP on, the ServerApp aggregates by it, so the
noised release is an equal-weight average (one org's sensitivity is clip / n)."""

CANARY_EXPOSURE_KEY = "canary-exposure"
"""Key in an evaluate reply's `declared` ConfigRecord: JSON {"candidates": |R|, "exposure": [bits...]}
of the canaries the node planted in its own training data (the canaries themselves never leave it)."""
