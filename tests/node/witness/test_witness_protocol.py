"""Witness cosignatures, the witness's decisions, policies, tiles and proof bundles (no servers)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from synthspace import keys, tlog_tiles
from synthspace import transparency_log as tlog
from synthspace.checkpoint import Checkpoint, sign_checkpoint, verifier_for
from synthspace.errors import ProofError
from synthspace.node.witness import Witness, WitnessConfig, WitnessState
from synthspace.node.witness.state import WitnessStateError
from synthspace.tlog_proof import ProofBundle, verify_bundle
from synthspace.witness import (
    AddCheckpoint,
    WitnessError,
    WitnessKey,
    WitnessPolicy,
    add_cosignatures,
    cosign,
    cosignature_message,
    verify_cosignatures,
    verify_witnessed,
)

ORIGIN = "test.synthspace/log"


class Log:
    """A log as a coordinator keeps it: a Merkle tree and a signing key."""

    def __init__(self, key: object | None = None) -> None:
        self.key = key or keys.generate_private_key()
        self.tree = tlog.MerkleTree()
        self.entries: list[bytes] = []

    def add(self, *entries: bytes) -> None:
        for e in entries:
            self.entries.append(e)
            self.tree.append(e)

    def note(self) -> str:
        return sign_checkpoint(Checkpoint(ORIGIN, len(self.tree), self.tree.root()), ORIGIN, self.key)  # type: ignore[arg-type]

    def request(self, old: int) -> bytes:
        proof = self.tree.consistency_proof(old, len(self.tree)) if 0 < old < len(self.tree) else []
        return AddCheckpoint(old, tuple(proof), self.note()).to_bytes()


@pytest.fixture
def log() -> Log:
    lg = Log()
    lg.add(b"a", b"b", b"c")
    return lg


def make_witness(tmp_path: Path, log: Log, name: str = "w1.example/witness") -> Witness:
    cfg = WitnessConfig(name=name, key=keys.generate_private_key(), logs={ORIGIN: verifier_for(ORIGIN, log.key)})  # type: ignore[arg-type]
    return Witness(cfg, WitnessState(tmp_path / name.replace("/", "_")))


# ---- cosignatures ---------------------------------------------------------------------------


def test_cosignature_round_trip_and_tamper(log: Log) -> None:
    key = keys.generate_private_key()
    wk = WitnessKey.for_key("w.example", key)
    assert WitnessKey.from_string(wk.to_string()) == wk
    note = log.note()
    text = note[: note.rfind("\n\n") + 1]
    line = cosign(text, "w.example", key, timestamp=1_700_000_000)
    cosigned = add_cosignatures(note, [line])
    assert verify_cosignatures(cosigned, [wk]) == {"w.example": 1_700_000_000}
    # the signed message is the cosignature/v1 header, the time line and the checkpoint
    assert cosignature_message(text, 5).startswith(b"cosignature/v1\ntime 5\n" + ORIGIN.encode())
    # changing the timestamp inside the signature bytes breaks it: the time is signed too
    import base64

    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[4:12] = struct.pack(">Q", 1_700_000_001)
    forged = line.rsplit(" ", 1)[0] + " " + base64.b64encode(bytes(raw)).decode() + "\n"
    with pytest.raises(WitnessError, match="does not verify"):
        verify_cosignatures(add_cosignatures(note, [forged]), [wk])


def test_witness_key_strings_are_checked() -> None:
    wk = WitnessKey.for_key("w.example", keys.generate_private_key())
    name, h, b = wk.to_string().split("+", 2)
    with pytest.raises(WitnessError, match="does not match"):
        WitnessKey.from_string(f"other+{h}+{b}")
    log_style = verifier_for("w.example", keys.generate_private_key()).to_string()  # algorithm 0x01
    with pytest.raises(WitnessError, match="0x04"):
        WitnessKey.from_string(log_style)


# ---- the witness's decisions ----------------------------------------------------------------


def test_witness_cosigns_a_growing_log_and_remembers(tmp_path: Path, log: Log) -> None:
    w = make_witness(tmp_path, log)
    first = w.add_checkpoint(log.request(0))
    assert first.status == 200, first.body
    assert verify_cosignatures(add_cosignatures(log.note(), [first.body]), [w.key]) != {}
    log.add(b"d", b"e")
    again = w.add_checkpoint(log.request(3))
    assert again.status == 200, again.body
    # a fresh Witness on the same state folder continues from size 5
    w2 = Witness(w.config, WitnessState(w.state.directory))
    stale = w2.add_checkpoint(log.request(3))
    assert (stale.status, stale.body, stale.content_type) == (409, "5\n", "text/x.tlog.size")


def test_witness_refuses_a_fork(tmp_path: Path, log: Log) -> None:
    """The same log key signs two different trees: the witness cosigns only the first."""
    w = make_witness(tmp_path, log)
    assert w.add_checkpoint(log.request(0)).status == 200
    fork = Log(log.key)
    fork.add(b"a", b"b", b"X", b"d")  # same origin and key, different third entry
    res = w.add_checkpoint(fork.request(3))
    assert res.status == 422 and "not consistent" in res.body
    same_size_fork = Log(log.key)
    same_size_fork.add(b"a", b"b", b"Y")
    assert w.add_checkpoint(same_size_fork.request(3)).status == 422
    # the honest log still gets cosigned afterwards
    log.add(b"d")
    assert w.add_checkpoint(log.request(3)).status == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"garbage", 400),
        (b"old 01\n\nx", 400),
        (b"old 0\n" + b"QUFB\n" * 70 + b"\n", 400),
        (b"x" * 70_000, 400),
    ],
)
def test_witness_refuses_malformed_requests(tmp_path: Path, log: Log, body: bytes, status: int) -> None:
    assert make_witness(tmp_path, log).add_checkpoint(body).status == status


def test_witness_refuses_unknown_logs_and_bad_signatures(tmp_path: Path, log: Log) -> None:
    w = make_witness(tmp_path, log)
    impostor = Log()  # same origin, other key
    impostor.add(b"a")
    assert w.add_checkpoint(impostor.request(0)).status == 403
    other_origin = AddCheckpoint(0, (), sign_checkpoint(Checkpoint("other/log", 1, tlog.leaf_hash(b"a")), "other/log", log.key)).to_bytes()  # type: ignore[arg-type]
    assert w.add_checkpoint(other_origin).status == 404


def test_witness_state_is_never_silently_reset(tmp_path: Path, log: Log) -> None:
    w = make_witness(tmp_path, log)
    assert w.add_checkpoint(log.request(0)).status == 200
    w.state.path.write_text("{not json")
    with pytest.raises(WitnessStateError, match="corrupt"):
        w.add_checkpoint(log.request(3))


# ---- policies ---------------------------------------------------------------------------------


def _cosigned_by(tmp_path: Path, log: Log, n: int) -> tuple[str, list[Witness]]:
    ws = [make_witness(tmp_path, log, f"w{i}.example/witness") for i in range(3)]
    lines = [w.add_checkpoint(log.request(0)).body for w in ws[:n]]
    return add_cosignatures(log.note(), lines), ws


def _policy(log: Log, ws: list[Witness], quorum: str) -> WitnessPolicy:
    text = f"log {verifier_for(ORIGIN, log.key).to_string()}\n"  # type: ignore[arg-type]
    text += "".join(f"witness w{i} {w.key.to_string()} http://127.0.0.1:{9000 + i}\n" for i, w in enumerate(ws))
    text += "group two-of-three 2 w0 w1 w2  # any two\n" + f"quorum {quorum}\n"
    return WitnessPolicy.parse(text)


def test_policy_quorum(tmp_path: Path, log: Log) -> None:
    note, ws = _cosigned_by(tmp_path, log, 2)
    checkpoint, cosigners = verify_witnessed(note, _policy(log, ws, "two-of-three"))
    assert checkpoint.size == 3 and set(cosigners) == {"w0", "w1"}
    one, _ = _cosigned_by(tmp_path / "b", log, 1)
    with pytest.raises(WitnessError, match="quorum 'two-of-three' is not met"):
        verify_witnessed(one, _policy(log, ws, "two-of-three"))
    verify_witnessed(one, _policy(log, ws, "none"))


@pytest.mark.parametrize(
    "text",
    ["quorum nobody\n", "witness a notakey\nquorum a\n", "group g 3 \nquorum g\n", "log x\nquorum none\n", ""],
)
def test_bad_policies_are_refused_with_the_line(text: str) -> None:
    with pytest.raises(WitnessError):
        WitnessPolicy.parse(text)


def test_a_split_view_is_caught_by_the_policy(tmp_path: Path, log: Log) -> None:
    """A coordinator shows org A one log and org B a fork; the witnesses saw A's first."""
    ws = [make_witness(tmp_path, log, f"w{i}.example/witness") for i in range(2)]
    honest = add_cosignatures(log.note(), [w.add_checkpoint(log.request(0)).body for w in ws])
    fork = Log(log.key)
    fork.add(b"a", b"b", b"evil")
    replies = [w.add_checkpoint(fork.request(3)) for w in ws]
    assert [r.status for r in replies] == [422, 422]
    policy = WitnessPolicy.parse(
        f"log {verifier_for(ORIGIN, log.key).to_string()}\n"  # type: ignore[arg-type]
        + "".join(f"witness w{i} {w.key.to_string()}\n" for i, w in enumerate(ws))
        + "group all-of-them all w0 w1\nquorum all-of-them\n"
    )
    verify_witnessed(honest, policy)
    with pytest.raises(WitnessError, match="not met"):
        verify_witnessed(fork.note(), policy)


# ---- tiles ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "index", "width", "path"),
    [
        (0, 0, 256, "tile/0/000"),
        (0, 1234067, 256, "tile/0/x001/x234/067"),
        (1, 5, 17, "tile/1/005.p/17"),
        ("entries", 1000, 255, "tile/entries/x001/000.p/255"),
    ],
)
def test_tile_paths(level: int | str, index: int, width: int, path: str) -> None:
    assert tlog_tiles.tile_path(level, index, width) == path
    assert tlog_tiles.parse_tile_path(path.removeprefix("tile/")) == (level, index, width)


@pytest.mark.parametrize(
    "path", ["0/0", "0/0001", "0/x000/001", "64/000", "0/000.p/0", "0/000.p/256", "x/000", "0/000.p/", "01/000", "0/../000"]
)
def test_bad_tile_paths(path: str) -> None:
    with pytest.raises(tlog_tiles.TilePathError):
        tlog_tiles.parse_tile_path(path)


@pytest.mark.parametrize("size", [1, 2, 255, 256, 257, 513, 1000, 65536 + 300])
def test_tiles_recompute_every_root(size: int) -> None:
    leaves = [tlog.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    tree = tlog.MerkleTree(leaves)
    fetched: list[tuple[int, int, int]] = []

    def fetch(level: int, index: int, width: int) -> bytes:
        fetched.append((level, index, width))
        lo = index * 256
        h = 8 * level
        return b"".join(tree.perfect_hash((lo + i) << h, (lo + i + 1) << h) for i in range(width))

    reader = tlog_tiles.TileReader(size, fetch)
    assert reader.root() == tree.root()
    for start, end in [(0, 1), (size // 3, size), (0, size)]:
        if start < end:
            assert reader.subtree(start, end) == tlog.root_from_leaf_hashes(leaves[start:end])
    assert len(fetched) == len(set(fetched))  # each tile read once


def test_entry_bundles_round_trip() -> None:
    entries = [b"", b"x" * 300, b"{}"]
    data = tlog_tiles.encode_entry_bundle(entries)
    assert tlog_tiles.decode_entry_bundle(data, 3) == entries
    with pytest.raises(ProofError):
        tlog_tiles.decode_entry_bundle(data[:-1], 3)


# ---- proof bundles ----------------------------------------------------------------------------


def test_proof_bundle_verifies_offline(tmp_path: Path, log: Log) -> None:
    note, ws = _cosigned_by(tmp_path, log, 2)
    bundle = ProofBundle(index=1, proof=tuple(log.tree.inclusion_proof(1)), note=note)
    parsed = ProofBundle.from_text(bundle.to_text())
    assert parsed == bundle
    verifier = verifier_for(ORIGIN, log.key)  # type: ignore[arg-type]
    checkpoint, cosigners = verify_bundle(parsed, b"b", verifier, _policy(log, ws, "two-of-three"))
    assert checkpoint.size == 3 and len(cosigners) == 2
    with pytest.raises(ProofError):
        verify_bundle(parsed, b"tampered", verifier)
    with pytest.raises(ProofError):
        verify_bundle(ProofBundle(0, parsed.proof, note), b"b", verifier)
    with pytest.raises(WitnessError, match="not met"):
        one, _ = _cosigned_by(tmp_path / "one", log, 1)
        verify_bundle(ProofBundle(1, parsed.proof, one), b"b", verifier, _policy(log, ws, "two-of-three"))
