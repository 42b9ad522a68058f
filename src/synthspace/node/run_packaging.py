"""A gated generation run turned into the one Parquet file that gets signed.

`ensure_gate_report` makes sure the run's gate report is current and bound to its shards;
`package_run_data` concatenates the shards without node-private `_` columns, without the
records the gates excluded, and with redacted text swapped in. `synthspace.node.publishing`
signs and uploads the result; benchmarks package runs the same way through this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthspace.atomic_files import atomic_output
from synthspace.node.bundles import GATE_REPORT, Progress, PublishError
from synthspace.node.gate_binding import bind_report, binding_problem
from synthspace.node.gates import GateReport, load_gates_config, load_report, run_gates
from synthspace.node.generate.manifest import load_manifest
from synthspace.node.generate.run_dir import shard_paths

if TYPE_CHECKING:
    from synthspace.node.home import NodeHome

# PublishError, Progress and GATE_REPORT are defined in synthspace.node.bundles (which signs
# and uploads what this module packages) and stay importable from here.
__all__ = [
    "GATE_REPORT",
    "Progress",
    "PublishError",
    "ensure_gate_report",
    "package_run_data",
    "require_complete",
]


def _noop(_: str) -> None:
    return None


def package_run_data(
    run_dir: Path,
    out_path: Path,
    exclude_record_ids: Sequence[str] = (),
    redacted: Mapping[str, Mapping[str, Any]] | None = None,
) -> int:
    """Concatenate the run's shards into one Parquet file without `_`-prefixed columns, and
    without the records the gates marked for exclusion (exact duplicates). `redacted` (record
    id -> output field values) replaces the fields of records whose PII the gates redacted:
    the original text never reaches the file.

    Returns the row count. Written to a temp name and renamed, so `out_path` is whole or absent.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = shard_paths(run_dir)
    if not paths:
        raise PublishError(f"{run_dir} has no data shards (shards/part-*.parquet); run generate first")
    tables = []
    for p in paths:
        table = pq.read_table(p)
        tables.append(table.select([c for c in table.column_names if not c.startswith("_")]))
    try:
        table = pa.concat_tables(tables, promote_options="default")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise PublishError(f"the shards of {run_dir} have incompatible schemas: {exc}") from exc
    if any(c.startswith("_") for c in table.column_names):  # belt and braces: never ship private columns
        raise PublishError("internal error: node-private columns survived packaging")
    if exclude_record_ids:
        import pyarrow.compute as pc

        if "record_id" not in table.column_names:
            raise PublishError("the gates excluded records but the shards have no record_id column")
        keep = pc.invert(pc.is_in(table.column("record_id"), value_set=pa.array(list(exclude_record_ids))))
        table = table.filter(keep)
    if "record_id" in table.column_names:
        ids = table.column("record_id").to_pylist()
        if len(set(ids)) != len(ids):
            raise PublishError(f"the shards of {run_dir} repeat record ids; the run is damaged")
    if redacted:
        table = _apply_redactions(table, redacted)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out_path) as fh:
        pq.write_table(table, fh, compression="zstd")
    return int(table.num_rows)


def _apply_redactions(table: Any, redacted: Mapping[str, Mapping[str, Any]]) -> Any:
    """`table` with the redacted field values of the records in `redacted` swapped in."""
    import pyarrow as pa

    if "record_id" not in table.column_names:
        raise PublishError("the gates redacted records but the shards have no record_id column")
    ids = [str(v) for v in table.column("record_id").to_pylist()]
    rows = {rid: i for i, rid in enumerate(ids) if rid in redacted}
    if len(rows) != len(redacted):
        raise PublishError(
            f"{len(redacted) - len(rows)} redacted record(s) are not among the records to publish; "
            "gate the run again"
        )
    names = sorted({name for fields in redacted.values() for name in fields})
    for name in names:
        if name not in table.column_names:
            raise PublishError(f"redacted field {name!r} is not a column of the shards")
        col = table.column(name)
        values = col.to_pylist()
        for rid, i in rows.items():
            if name in redacted[rid]:
                values[i] = redacted[rid][name]
        try:
            new = pa.array(values, type=col.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise PublishError(f"redacted values do not fit column {name!r}: {exc}") from exc
        table = table.set_column(table.column_names.index(name), name, new)
    return table


def ensure_gate_report(
    run_dir: Path,
    gates_config: Path | None = None,
    progress: Progress = _noop,
    *,
    home: NodeHome | None = None,
) -> GateReport:
    """The run's gate report. With `home` (as `publish` calls it) the report on disk is used
    only when its signed binding (node/gate_binding.py) ties its exact bytes to these shards and
    this gate code; otherwise the gates run again and the new report is bound. Without `home`
    the gates run when there is no report, when it is older than the newest shard or covers
    another record count, or when `gates_config` is given."""
    report_path = run_dir / GATE_REPORT
    shards = shard_paths(run_dir)
    newest_shard = max((p.stat().st_mtime for p in shards), default=0.0)
    report = None
    if gates_config is None and report_path.is_file() and report_path.stat().st_mtime >= newest_shard:
        report = load_report(run_dir)
        rows = _shard_rows(shards)
        if report.records != rows:
            progress(f"the gate report covers {report.records} records, the run has {rows}: gating again")
            report = None
        elif home is not None and (why := binding_problem(home, run_dir, report_path, shards)):
            progress(f"{why}: gating again")
            report = None
    if report is None:
        progress("running the privacy and quality gates")
        config = load_gates_config(gates_config) if gates_config is not None else None
        report = run_gates(run_dir, config, progress=progress, home=home.path if home is not None else None)
        if home is not None:
            bind_report(home, run_dir, report_path, shards)
    if not report.gates:
        raise PublishError(f"{report_path} records no gate results; run `synthspace gate {run_dir}`")
    return report


def _shard_rows(shards: Sequence[Path]) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in shards)


def require_complete(run_dir: Path) -> Any:
    manifest = load_manifest(run_dir)
    if manifest.status != "complete":
        raise PublishError(
            f"run {run_dir} is {manifest.status!r}, not complete; finish it with `synthspace generate` "
            "(it resumes where it stopped) before publishing"
        )
    return manifest
