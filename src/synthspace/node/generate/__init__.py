"""Generation: recipes + seeds + personas -> validated records in resumable Parquet shards.

Python API: `run_generation(...)` (what `synthspace generate` calls), `get_backend(name, ...)`,
`read_records(run_dir)`, `RunManifest` / `load_manifest(run_dir)`.
"""

from synthspace.node.generate.backends import Backend, BackendError, get_backend
from synthspace.node.generate.execution import Progress
from synthspace.node.generate.manifest import RunManifest, load_manifest
from synthspace.node.generate.run_dir import RunDirError, read_records
from synthspace.node.generate.runner import run_generation

__all__ = [
    "Backend",
    "BackendError",
    "Progress",
    "RunDirError",
    "RunManifest",
    "get_backend",
    "load_manifest",
    "read_records",
    "run_generation",
]
