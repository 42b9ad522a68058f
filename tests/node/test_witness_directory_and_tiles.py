"""Enrolled witnesses and the tile-reading log monitor (issue 17), against a real coordinator
on 127.0.0.1: nodes enrol witness keys (at enrolment or later, signed), a node builds its
witness policy from the keys the verified log holds and refuses an org directory that differs;
the log monitor reads C2SP tiles, matches the JSON entries API on a clean log and names a
tampered tile (`log_tiles`)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from synthspace import keys
from synthspace import transparency_log as tlog
from synthspace.checkpoint import Checkpoint
from synthspace.tlog_tiles import TILE_HEIGHT, TILE_WIDTH, encode_entry_bundle
from synthspace.witness import WitnessError, WitnessKey, WitnessPolicy, witness_name_for
from tests.node.conftest import Coordinator, cli, unique_org


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory, coordinator: Coordinator) -> dict[str, Any]:
    """alpha and beta enrol with --witness-url, gamma registers its witness later, delta has none."""
    from synthspace.node.enrolment import enroll, register_witness
    from synthspace.node.home import NodeHome

    base = tmp_path_factory.mktemp("witness-nodes")
    out: dict[str, Any] = {}
    for name in ("alpha", "beta", "gamma", "delta"):
        org = unique_org(name)
        home = NodeHome.init(base / org, org, coordinator.url)
        url = f"http://127.0.0.1:9/{name}" if name in ("alpha", "beta") else None
        enroll(home, coordinator.invite(org), witness_url=url)
        out[name] = home
    register_witness(out["gamma"], "http://127.0.0.1:9/gamma")
    return out


def _policy(home: Any, quorum: int, client: Any = None, **kw: Any) -> tuple[str, list[str]]:
    from synthspace.node.audit.auditor_state import AuditorState
    from synthspace.node.audit.log_monitor import resolve_verifier
    from synthspace.node.audit.witnessing import policy_from_coordinator
    from synthspace.node.coordinator_client import CoordinatorClient

    state = AuditorState(home.auditor_state_dir)
    with client or CoordinatorClient.for_home(home) as c:
        verifier, _ = resolve_verifier(c, state, home.config().log_verifier_key)
        return policy_from_coordinator(c, state, verifier, quorum, **kw)


def test_policy_lists_exactly_the_enrolled_witness_keys(nodes: dict[str, Any]) -> None:
    from synthspace.node.enrolment import node_witness_key

    text, orgs = _policy(nodes["delta"], 2)
    expected = {
        nodes[n].config().org: node_witness_key(nodes[n]).to_string()
        for n in ("alpha", "beta", "gamma")
    }
    policy = WitnessPolicy.parse(text)
    assert {name: wk.to_string() for name, wk in policy.witnesses.items()} == expected
    assert (
        sorted(orgs) == sorted(expected)
        and policy.groups["enrolled"][0] == 2
        and policy.quorum == "enrolled"
    )
    assert policy.urls[nodes["gamma"].config().org] == "http://127.0.0.1:9/gamma"
    assert all(wk.name == witness_name_for(org) for org, wk in policy.witnesses.items())
    # --exclude-self and a quorum larger than the witnesses
    _, orgs = _policy(nodes["alpha"], 1, exclude=[nodes["alpha"].config().org])
    assert nodes["alpha"].config().org not in orgs and len(orgs) == 2
    with pytest.raises(WitnessError, match="quorum 4"):
        _policy(nodes["delta"], 4)
    # the key history still agrees with the org directory in a full log audit
    from tests.node.conftest import auditor_for

    report = auditor_for(nodes["delta"]).audit_log()
    assert report.ok, [(c.name, c.detail) for c in report.checks if c.status == "fail"]


class _TamperedDirectory:
    """Wraps a client; its org directory answers with `tamper` applied (a lying coordinator)."""

    def __init__(self, client: Any, tamper: Any) -> None:
        self._client, self._tamper = client, tamper

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def orgs(self) -> Any:
        return self._tamper(copy.deepcopy(self._client.orgs()))

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()


def test_policy_refused_when_the_directory_differs_from_the_log(nodes: dict[str, Any]) -> None:
    from synthspace.node.audit.witnessing import WitnessDirectoryMismatch
    from synthspace.node.coordinator_client import CoordinatorClient

    alpha = nodes["alpha"].config().org
    beta = nodes["beta"].config().org
    attacker = keys.generate_private_key()

    def swap_alpha(records: Any) -> Any:  # a consistent-looking answer with another key for alpha
        for rec in records:
            for k in rec.keys:
                if rec.org == alpha and k.purpose == "witness":
                    k.key_id = keys.key_id(attacker)
                    k.public_key_pem = keys.public_key_pem(attacker)
                    k.witness_key = WitnessKey.for_key(
                        witness_name_for(alpha), attacker
                    ).to_string()
        return records

    def hide_beta(records: Any) -> Any:
        for rec in records:
            rec.keys = [k for k in rec.keys if not (rec.org == beta and k.purpose == "witness")]
        return records

    for tamper, why in (
        (swap_alpha, "not an active witness key in the log"),
        (hide_beta, "does not list it"),
    ):
        client = _TamperedDirectory(CoordinatorClient.for_home(nodes["delta"]), tamper)
        with pytest.raises(WitnessDirectoryMismatch, match=why):
            _policy(nodes["delta"], 2, client=client)
    # positive control: the same wrapper with no tampering builds the policy
    _, orgs = _policy(
        nodes["delta"],
        2,
        client=_TamperedDirectory(CoordinatorClient.for_home(nodes["delta"]), lambda r: r),
    )
    assert len(orgs) == 3


def test_cli_policy_add_witness_by_org_and_duplicate_registration(
    nodes: dict[str, Any], coordinator: Coordinator
) -> None:
    from synthspace.coordinator.settings import CoordinatorSettings
    from synthspace.node.coordinator_client import CoordinatorError
    from synthspace.node.enrolment import node_witness_key, register_witness

    delta = nodes["delta"]
    rc, out, err = cli(
        "node", "witness-policy", "--home", str(delta.path), "--from-coordinator", "--quorum", "2"
    )
    assert rc == 0, out + err
    policy = WitnessPolicy.parse((delta.path / "witness-policy").read_text())
    assert len(policy.witnesses) == 3 and policy.groups["enrolled"][0] == 2
    alpha = nodes["alpha"]
    rc, out, err = cli(
        "coordinator", "add-witness", "--home", str(coordinator.home), "--org", alpha.config().org
    )
    assert rc == 0, out + err
    endpoints = CoordinatorSettings.load(coordinator.home).witnesses
    assert [(w.key, w.url) for w in endpoints] == [
        (node_witness_key(alpha).to_string(), "http://127.0.0.1:9/alpha")
    ]
    rc, _, err = cli(
        "coordinator", "add-witness", "--home", str(coordinator.home), "--org", delta.config().org
    )
    assert rc == 1 and "no active witness key" in err and "Traceback" not in err
    with pytest.raises(CoordinatorError) as info:  # the same witness key again
        register_witness(nodes["gamma"], "http://127.0.0.1:9/gamma")
    assert info.value.status == 409 and info.value.code == "key_exists"


# ---- the monitor reads tiles ----------------------------------------------------------------


def _checkpoint(client: Any, home: Any) -> Checkpoint:
    from synthspace.checkpoint import Verifier
    from synthspace.node.audit.log_monitor import open_note

    return open_note(client.checkpoint(), Verifier.from_string(home.config().log_verifier_key))


def test_tiles_match_the_json_entries_and_a_tampered_tile_is_named(
    nodes: dict[str, Any], tmp_path: Path
) -> None:
    from synthspace.checkpoint import Verifier
    from synthspace.node.audit.auditor_state import AuditorState
    from synthspace.node.audit.log_monitor import TileMismatch, fetch_leaves, sync_log
    from synthspace.node.coordinator_client import CoordinatorClient
    from tests.node.conftest import auditor_for

    home = nodes["delta"]
    verifier = Verifier.from_string(home.config().log_verifier_key)
    with CoordinatorClient.for_home(home) as client:
        cp = _checkpoint(client, home)
        assert cp.size >= 10
        via_tiles = fetch_leaves(client, 0, cp, tiles=True)
        assert via_tiles == fetch_leaves(client, 0, cp, tiles=False) and len(via_tiles) == cp.size
        assert fetch_leaves(client, 5, cp, tiles=True) == via_tiles[5:]
        tiles_view = sync_log(client, AuditorState(tmp_path / "tiles"), verifier)
        client.reads_tiles = False
        json_view = sync_log(client, AuditorState(tmp_path / "json"), verifier)
        assert (
            tiles_view.leaves == json_view.leaves and tiles_view.checkpoint == json_view.checkpoint
        )

    auditor = auditor_for(home)
    real_tile = auditor.client.tile
    for level in ("entries", 0):

        def flipped(lvl: Any, index: int, width: int, target: Any = level) -> bytes:
            data = real_tile(lvl, index, width)
            return data[:-1] + bytes([data[-1] ^ 1]) if lvl == target else data

        auditor.state = AuditorState(tmp_path / f"tampered-{level}")
        auditor.client.tile = flipped  # type: ignore[method-assign]
        auditor.refresh()
        report = auditor.audit_log()
        failure = report.first_failure()
        assert failure is not None and failure.name == "log_tiles", [
            (c.name, c.detail) for c in report.checks
        ]
        with pytest.raises(TileMismatch):
            sync_log(auditor.client, AuditorState(tmp_path / f"direct-{level}"), verifier)
    auditor.client.tile = real_tile  # type: ignore[method-assign]
    auditor.state = AuditorState(tmp_path / "clean")
    auditor.refresh()
    assert auditor.audit_log().ok  # positive control: the same auditor, untampered tiles


class _MemoryTiles:
    """Serves an in-memory log as tiles and JSON entries (several full tiles, cheaply)."""

    reads_tiles = True

    def __init__(self, n: int) -> None:
        self.leaves = [b"entry-%d" % i + b"x" * (i % 50) for i in range(n)]
        self.hashes = [tlog.leaf_hash(leaf) for leaf in self.leaves]
        self.bad: tuple[Any, int] | None = None
        self.tile_calls = 0

    def checkpoint_(self) -> Checkpoint:
        return Checkpoint("mem/log", len(self.leaves), tlog.root_from_leaf_hashes(self.hashes))

    def tile(self, level: Any, index: int, width: int) -> bytes:
        self.tile_calls += 1
        lo = index * TILE_WIDTH
        if level == "entries":
            data = encode_entry_bundle(self.leaves[lo : lo + width])
        else:
            span = 1 << (TILE_HEIGHT * level)
            data = b"".join(
                tlog.root_from_leaf_hashes(self.hashes[p * span : (p + 1) * span])
                for p in range(lo, lo + width)
            )
        if self.bad == (level, index):
            data = data[:40] + bytes([data[40] ^ 0x80]) + data[41:]
        return data

    def entries(self, start: int, end: int) -> list[tuple[int, bytes]]:
        return [(i, self.leaves[i]) for i in range(start, end)]


def test_tile_reader_over_several_tiles_names_the_tampered_tile() -> None:
    from synthspace.node.audit.log_monitor import TileMismatch, fetch_leaves, leaves_from_tiles
    from synthspace.node.coordinator_client import CoordinatorError

    log = _MemoryTiles(3 * TILE_WIDTH + 17)
    cp = log.checkpoint_()
    assert leaves_from_tiles(log, 0, cp) == log.leaves  # type: ignore[arg-type]
    assert leaves_from_tiles(log, 300, cp) == log.leaves[300:]  # type: ignore[arg-type]
    for bad, match in (
        (("entries", 1), "tile/entries/001 does not hash"),
        ((1, 0), "recompute root"),
        ((0, 3), "recompute root"),
    ):
        log.bad = bad
        with pytest.raises(TileMismatch, match=match) as info:
            leaves_from_tiles(log, 0, cp)  # type: ignore[arg-type]
        assert info.value.check == "log_tiles"
    log.bad = None

    class NoTiles(_MemoryTiles):
        def tile(self, level: Any, index: int, width: int) -> bytes:
            raise CoordinatorError(404, "http_error", "Not Found", "GET /v1/log/tile/...")

    old = NoTiles(40)  # a coordinator without tile endpoints: the JSON entries API
    assert fetch_leaves(old, 0, old.checkpoint_()) == old.leaves  # type: ignore[arg-type]
