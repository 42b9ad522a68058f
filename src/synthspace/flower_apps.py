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
