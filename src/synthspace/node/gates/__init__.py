"""Gate runner: every privacy, quality and usefulness gate over a run directory or a records
file, with record-level filtering, and its report.

Public API: `run_gates(run_dir, config=None) -> GateReport`, `gate_records(file, recipe)`,
`load_report(run_dir)`, `GatesConfig`, `load_gates_config(path)`.
"""

from synthspace.node.gates.errors import GateReportError, RunDirError
from synthspace.node.gates.report import GateReport, load_report
from synthspace.node.gates.runner import GateOutcome, gate_records, run_gates
from synthspace.node.recipes.gates import GatesConfig, gates_config_from_mapping, load_gates_config

__all__ = [
    "GateOutcome",
    "GateReport",
    "GateReportError",
    "GatesConfig",
    "RunDirError",
    "gate_records",
    "gates_config_from_mapping",
    "load_gates_config",
    "load_report",
    "run_gates",
]
