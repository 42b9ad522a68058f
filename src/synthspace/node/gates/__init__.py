"""Gate runner: every privacy and quality gate over a run directory, and its report.

Public API: `run_gates(run_dir, config=None) -> GateReport`, `load_report(run_dir)`,
`GatesConfig`, `load_gates_config(path)`.
"""

from synthspace.node.gates.config import GatesConfig, gates_config_from_mapping, load_gates_config
from synthspace.node.gates.errors import GateReportError, RunDirError
from synthspace.node.gates.report import GateReport, load_report
from synthspace.node.gates.runner import run_gates

__all__ = [
    "GateReport",
    "GateReportError",
    "GatesConfig",
    "RunDirError",
    "gates_config_from_mapping",
    "load_gates_config",
    "load_report",
    "run_gates",
]
