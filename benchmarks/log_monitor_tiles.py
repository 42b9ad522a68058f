"""The node's log monitor: entries/s reading the log as C2SP tiles vs the JSON entries API.

    PYTHONPATH=src .venv/bin/python benchmarks/log_monitor_tiles.py --entries 5000 --repeat 3

A coordinator home (SQLite) is bulk-loaded with N key-entry-sized leaves and their subtree
hashes, served by the real `synthspace coordinator serve` on 127.0.0.1; then `sync_log` (the
monitor behind `synthspace audit log`) verifies the whole log from an empty auditor state, once
reading tiles and once the JSON entries API, and once more catching up the last 100 entries.
Both paths check every entry against the signed root; the tile path also checks the hash tiles
recompute it. Prints a Markdown table; JSON to bench-out/log_monitor_tiles.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.coordinator.conftest import CoordinatorServer, init_home  # noqa: E402


def _leaf(i: int) -> bytes:
    # about the size of a real key entry (canonical JSON with a PEM key)
    return json.dumps(
        {
            "time": "2026-12-04T15:00:00Z",
            "org": f"org-{i % 97}",
            "type": "key-add",
            "key_id": f"{i:064x}",
            "purpose": "artifact",
            "public_key_pem": "-----BEGIN PUBLIC KEY-----\n"
            + "A" * 60
            + "\n-----END PUBLIC KEY-----\n",
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


def bulk_load(home: Path, n: int) -> None:
    """n leaves plus every stored subtree hash, straight into the SQLite tables."""
    from synthspace import transparency_log as tlog
    from synthspace.coordinator.log_store import root_from_frontier
    from synthspace.coordinator.runtime import Coordinator
    from synthspace.coordinator.settings import CoordinatorSettings

    leaves = [_leaf(i) for i in range(n)]
    levels = [[tlog.leaf_hash(leaf) for leaf in leaves]]
    while len(levels[-1]) >= 2:
        prev = levels[-1]
        levels.append([tlog.node_hash(prev[2 * i], prev[2 * i + 1]) for i in range(len(prev) // 2)])
    frontier, offset = [], 0
    for b in reversed(range(n.bit_length())):
        if n & (1 << b):
            frontier.append(levels[b][offset >> b])
            offset += 1 << b
    coord = Coordinator.open(CoordinatorSettings.load(home), verify=False)
    raw = coord.engine.raw_connection()
    try:
        cur = raw.cursor()
        for table in ("org_keys", "orgs", "log_leaves", "log_nodes"):
            cur.execute(f"DELETE FROM {table}")
        cur.executemany(
            "INSERT INTO log_leaves (idx, leaf, leaf_hash, entry_type, created_at) VALUES (?,?,?,?,?)",
            (
                (i, leaf, levels[0][i], "key-add", "2026-12-04 15:00:00.000000")
                for i, leaf in enumerate(leaves)
            ),
        )
        cur.executemany(
            "INSERT INTO log_nodes (level, idx, hash) VALUES (?,?,?)",
            ((lvl, i, h) for lvl in range(1, len(levels)) for i, h in enumerate(levels[lvl])),
        )
        cur.execute(
            "UPDATE log_state SET size=?, root=?, frontier=? WHERE id=1",
            (n, root_from_frontier(frontier), b"".join(frontier)),
        )
        raw.commit()
    finally:
        raw.close()
        coord.close()


def _sync(
    url: str, key: str, state_dir: Path, tiles: bool, leave_last: int = 0
) -> tuple[float, int, int]:
    """(seconds, entries verified, HTTP requests) of one sync_log from `state_dir`."""
    from synthspace.checkpoint import Verifier
    from synthspace.node.audit.log_monitor import AuditorState, sync_log
    from synthspace.node.coordinator_client import CoordinatorClient

    client = CoordinatorClient(url)
    client.reads_tiles = tiles
    calls = {"n": 0}
    send = client._send

    def counting(*a: Any, **kw: Any) -> Any:
        calls["n"] += 1
        return send(*a, **kw)

    client._send = counting  # type: ignore[method-assign]
    state = AuditorState(state_dir)
    try:
        t = time.perf_counter()
        view = sync_log(client, state, Verifier.from_string(key))
        elapsed = time.perf_counter() - t
    finally:
        client.close()
    return elapsed, view.size - leave_last, calls["n"]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--entries", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="tilebench-"))
    init_home(home, None, startup_verify="off")
    bulk_load(home, args.entries)
    server = CoordinatorServer(home=home).start()
    results: dict[str, Any] = {"entries": args.entries}
    try:
        import httpx

        key = httpx.get(server.url + "/v1/log/verifier-key").text.strip()
        for mode, tiles in (("tiles", True), ("json", False)):
            runs = []
            for r in range(args.repeat):
                runs.append(_sync(server.url, key, home / f"state-{mode}-{r}", tiles))
            secs = statistics.median(x[0] for x in runs)
            results[mode] = {
                "seconds": secs,
                "entries_per_s": args.entries / secs,
                "requests": runs[0][2],
            }
            # catching up: a state that verified all but the last 100 entries
            from synthspace.node.audit.log_monitor import AuditorState

            src = AuditorState(home / f"state-{mode}-0")
            lines = src.leaves_path.read_text().splitlines(keepends=True)
            catch = []
            for r in range(args.repeat):
                d = AuditorState(home / f"catchup-{mode}-{r}")
                d.path.mkdir(parents=True)
                d.leaves_path.write_text("".join(lines[:-100]))
                catch.append(_sync(server.url, key, d.path, tiles, leave_last=0))
            results[mode]["catchup_100_ms"] = statistics.median(x[0] for x in catch) * 1000
            results[mode]["catchup_requests"] = catch[0][2]
    finally:
        server.stop()
    out = ROOT / "bench-out"
    out.mkdir(exist_ok=True)
    (out / "log_monitor_tiles.json").write_text(json.dumps(results, indent=2))
    print(f"log of {args.entries} entries, median of {args.repeat}, SQLite, 127.0.0.1\n")
    print(
        "| monitor reads | full sync s | entries/s | HTTP requests | catch up last 100: ms | requests |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for mode in ("tiles", "json"):
        m = results[mode]
        print(
            f"| {mode} | {m['seconds']:.3f} | {m['entries_per_s']:.0f} | {m['requests']} | "
            f"{m['catchup_100_ms']:.1f} | {m['catchup_requests']} |"
        )


if __name__ == "__main__":
    main()
