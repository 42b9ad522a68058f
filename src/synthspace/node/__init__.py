"""synthspace.node: everything an organisation runs on its own hardware.

Personas, seeds, generation backends, privacy and quality gates, packaging and publishing,
the Flower client. Imports `synthspace` only, never `synthspace.coordinator`.
"""
