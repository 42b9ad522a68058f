"""docs/protocol.md's worked examples are what the code produces, and they verify."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from synthspace import artifact, checkpoint, http_signatures, keys, transparency_log
from synthspace.dsse import Envelope

HERE = Path(__file__).parent
DOC = HERE.parent.parent / "docs" / "protocol.md"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("protocol_examples", HERE / "protocol_examples.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ex = _load()


def test_every_example_in_the_docs_matches_the_code() -> None:
    doc = DOC.read_text(encoding="utf-8")
    generated = ex.examples()
    present = ex.blocks(doc)
    assert sorted(present) == sorted(generated), "docs/protocol.md lacks or has extra example markers"
    stale = [name for name in generated if present[name] != generated[name]]
    assert not stale, f"stale examples {stale}: run python tests/protocol/protocol_examples.py --write docs/protocol.md"
    assert ex.fill(doc, generated) == doc  # refreshing is idempotent


def test_documented_seed_commitment_is_what_the_node_computes() -> None:
    from synthspace.node import seeds
    _, documented = ex.seed_commitment_example()
    assert seeds.SCHEME == documented.scheme == "sha256-salted-merkle-v1"
    assert seeds.commit_records(ex.SEEDS, ex.SEED_SALT) == documented
    # NFKC really applies: the full-width variant commits to the same root.
    halfwidth = [{k: v.replace("ＡＢＣ", "ABC").replace("？", "?") for k, v in r.items()} for r in ex.SEEDS]
    assert seeds.commit_records(halfwidth, ex.SEED_SALT).root == documented.root


def test_documented_artifacts_verify() -> None:
    statement = ex.example_statement()
    env = artifact.sign_statement(statement, ex.ARTIFACT_KEY)
    again = Envelope.from_json(env.to_json())
    assert artifact.open_statement(again, {keys.key_id(ex.ARTIFACT_KEY): ex.ARTIFACT_KEY.public_key()}) == statement


def test_documented_checkpoint_and_request_verify() -> None:
    generated = ex.examples()
    verifier = checkpoint.Verifier.from_string(generated["verifier"])
    cp = checkpoint.open_checkpoint(generated["checkpoint"] + "\n", verifier)
    tree = transparency_log.MerkleTree()
    for i in range(7):
        tree.append(b"entry-%d" % i)
    assert (cp.size, cp.root) == (7, tree.root())
    proof = [bytes.fromhex(line.strip()) for line in generated["proofs"].splitlines()[2:5]]
    transparency_log.verify_inclusion(transparency_log.leaf_hash(b"entry-2"), 2, cp.size, proof, cp.root)
    lines = generated["request"].split("\n")
    method, uri = lines[0].split(" ")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    body = lines[-1].encode()
    resolve = {keys.key_id(ex.REQUEST_KEY): ex.REQUEST_KEY.public_key()}.__getitem__
    v = http_signatures.verify_request(method, uri, headers, body, resolve, now=1795253460 + 5)
    assert v.nonce == "k3Vq9xT0aZ1mQ7bR"


def test_documented_witness_formats_verify(tmp_path: Path) -> None:
    from synthspace import tlog_proof, witness
    from synthspace.node.witness import Witness, WitnessConfig, WitnessState
    from synthspace.node.witness.state import LogHead

    generated = ex.examples()
    log = checkpoint.Verifier.from_string(generated["verifier"])
    wkey = witness.WitnessKey.from_string(generated["witness_key"])
    cosigned = generated["cosigned"] + "\n"
    assert witness.verify_cosignatures(cosigned, [wkey]) == {ex.WITNESS_NAME: ex.COSIGNED_AT}
    policy = witness.WitnessPolicy.parse(f"log {generated['verifier']}\nwitness acme {generated['witness_key']}\nquorum acme\n")
    bundle = tlog_proof.ProofBundle.from_text(generated["proof_bundle"] + "\n")
    cp, cosigners = tlog_proof.verify_bundle(bundle, b"entry-2", log, policy)
    assert (cp.size, cosigners) == (7, {"acme": ex.COSIGNED_AT})
    # The documented request is what a witness that saw size 3 accepts.
    tree = transparency_log.MerkleTree()
    for i in range(7):
        tree.append(b"entry-%d" % i)
    state = WitnessState(tmp_path)
    with state.locked() as heads:
        heads[log.name] = LogHead(3, tree.root(3), "")
    wit = Witness(WitnessConfig(name=ex.WITNESS_NAME, key=ex.WITNESS_KEY, logs={log.name: log}), state)
    res = wit.add_checkpoint((generated["add_checkpoint"] + "\n").encode(), now=ex.COSIGNED_AT)
    assert res.status == 200
    assert witness.add_cosignatures(generated["checkpoint"] + "\n", [res.body]) == cosigned
