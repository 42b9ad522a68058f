"""Gate thresholds, as the gate runner sees them; the models live in node/recipes/gates.py."""

from synthspace.node.recipes.gates import (
    GatesConfig,
    UsefulnessConfig,
    gates_config_from_mapping,
    load_gates_config,
)

__all__ = ["GatesConfig", "UsefulnessConfig", "gates_config_from_mapping", "load_gates_config"]
