"""Benchmark: what verification costs a node when it pulls an artifact.

Against a real coordinator (`synthspace coordinator serve`, SQLite, 127.0.0.1) this publishes
Parquet artifacts of a few sizes and, for each, times in the same run:

- download: the signed `GET /v1/artifacts/{id}/data` streamed to a file (what a plain
  dataspace-connector transfer does: bytes, no provenance checks);
- pull: `synthspace.node.catalog.pull` (envelope signature against the key history in the
  verified log, publisher key validity, data sha256, log entry + inclusion proof against the
  signed checkpoint, checkpoint consistency, retraction, gates) and the bundle written;
- publish: `publish_file` (sha256, sign, upload, receipt verified).

It reports medians and the pull/download ratio (verification overhead).

    python benchmarks/node_pull.py [--sizes-mb 1 16 64] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from synthspace.local_servers import CoordinatorProcess


def start_coordinator(home: Path) -> CoordinatorProcess:
    from synthspace.coordinator.home import init_home

    os.environ.pop("SYNTHSPACE_DATABASE_URL", None)
    init_home(home, log_origin="bench.node/log")
    return CoordinatorProcess(home).start()


def invite(home: Path, org: str) -> str:
    from synthspace.coordinator.runtime import Coordinator
    from synthspace.coordinator.services.orgs import create_invite
    from synthspace.coordinator.settings import CoordinatorSettings

    rt = Coordinator.open(CoordinatorSettings.load(home), migrate=False, verify=False)
    try:
        with rt.session() as session:
            return str(create_invite(session, org, 3600)[0])
    finally:
        rt.close()


def parquet_of(path: Path, mb: int) -> int:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = mb * 1024 * 1024 // 256
    rng = np.random.default_rng(mb)
    text = [rng.bytes(128).hex() for _ in range(rows)]
    pq.write_table(pa.table({"record_id": [f"r{i}" for i in range(rows)], "text": text}), path, compression="none")
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from synthspace.lineage import GateResult, LineagePredicate, Producer, Times
    from synthspace.node.catalog import pull
    from synthspace.node.cli_support import open_auditor
    from synthspace.node.coordinator_client import CoordinatorClient
    from synthspace.node.enrolment import enroll
    from synthspace.node.home import NodeHome
    from synthspace.node.publishing import publish_file

    work = Path(tempfile.mkdtemp(prefix="node-bench-"))
    server = start_coordinator(work / "coordinator")
    url = server.url
    try:
        alpha = NodeHome.init(work / "alpha", "alpha", url)
        enroll(alpha, invite(work / "coordinator", "alpha"))
        beta = NodeHome.init(work / "beta", "beta", url)
        enroll(beta, invite(work / "coordinator", "beta"))
        print(f"{'size':>8} {'publish s':>10} {'download s':>11} {'pull s':>8} {'pull/download':>14}")
        for mb in args.sizes_mb:
            data = work / f"data-{mb}.parquet"
            size = parquet_of(data, mb)
            now = datetime.now(UTC)
            publish_t, download_t, pull_t = [], [], []
            artifact_id = ""
            for r in range(args.repeat):
                predicate = LineagePredicate(
                    kind="dataset", title=f"bench {mb} MB #{r}",
                    producer=Producer(org="alpha", artifact_key_id="-", software="bench"),
                    gates=[GateResult(name="seed_leakage", blocking=True, passed=True)],
                    times=Times(started=now, finished=now, signed=now),
                )
                t0 = time.perf_counter()
                res = publish_file(alpha, data, predicate, bundle_dir=work / f"bundle-{mb}-{r}", subject_name="data.parquet")
                publish_t.append(time.perf_counter() - t0)
                artifact_id = res.artifact_id
            auditor = open_auditor(home=beta.path)
            auditor.audit_log()  # warm the auditor's log mirror once, as a running node has it
            for r in range(args.repeat):
                with CoordinatorClient.for_home(beta) as client:
                    t0 = time.perf_counter()
                    client.download_data(artifact_id, work / "raw.parquet")
                    download_t.append(time.perf_counter() - t0)
                out = work / f"pulled-{mb}-{r}"
                auditor.refresh()
                t0 = time.perf_counter()
                pull(auditor, artifact_id, out)
                pull_t.append(time.perf_counter() - t0)
                shutil.rmtree(out)
            p, d, u = (statistics.median(x) for x in (publish_t, download_t, pull_t))
            print(f"{size / 1e6:>6.1f}MB {p:>10.3f} {d:>11.3f} {u:>8.3f} {u / d:>13.2f}x")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
