"""`synthspace demo`: one coordinator, two organisations, the whole data space on one machine.

Orchestration only. Every step calls the Python API that the matching CLI command calls
(`coordinator init/invite`, `node init/enroll`, `personas sample`, `generate`, `gate`,
`publish`, `catalog list/pull`, `audit`, `federate superlink/run`, `node join`); the coordinator
runs as its own `synthspace coordinator serve` process because a real server on a real socket
is the point. This package only decides the order, the paths and the sizes, keeps track of the
processes it started (so they are stopped at the end, on Ctrl-C, or by a later
`synthspace demo --stop`), and collects what happened into a `DemoSummary`.

It lives in the composition root (`synthspace`, next to the CLI) because it is the one place
that wires `synthspace.node` and `synthspace.coordinator` together.

Modules: `options` (what was asked, errors), `plans` (the organisations and their recipes; the recipe files are in `recipes/`),
`processes` (process book, ports, the coordinator server process), `workdir`, `display` (step
UI), `datasets` (generate, gate, publish, pull, audit), `flow` (the order, federation, signals),
`summary` (what happened).
"""

from synthspace.demo.flow import run_demo
from synthspace.demo.options import DemoError, DemoOptions, WorkdirError
from synthspace.demo.processes import ProcessBook, ProcessInfo, stop_demo
from synthspace.demo.summary import DemoSummary

__all__ = ["DemoError", "DemoOptions", "DemoSummary", "ProcessBook", "ProcessInfo", "WorkdirError", "run_demo", "stop_demo"]
