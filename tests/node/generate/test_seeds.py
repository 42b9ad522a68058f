"""Seed loading (JSONL/CSV/Parquet), validation errors with locations, the salted commitment, the private store."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthspace.canonical_json import canonicalize
from synthspace.node.private_store import PrivateStore, PrivateStoreError
from synthspace.node.recipes import SeedField
from synthspace.node.seeds import (
    SeedError,
    SeedSet,
    commit_records,
    commit_seeds,
    leaf_data,
    load_seeds,
    normalize_record,
    salt_key,
)

FIELDS = [SeedField(name="q"), SeedField(name="n", type="integer"), SeedField(name="note", required=False)]
ROWS = [{"q": "What is ｶﾞｷﾞ？", "n": 1, "note": "x"}, {"q": "Second", "n": 2, "note": None}, {"q": "Third", "n": 3, "note": "z"}]


def _write_all(tmp: Path) -> dict[str, Path]:
    jl = tmp / "s.jsonl"
    jl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS) + "\n", encoding="utf-8")
    csvp = tmp / "s.csv"
    csvp.write_text("q,n,note\n" + "".join(f"{r['q']},{r['n']},{r['note'] or ''}\n" for r in ROWS), encoding="utf-8")
    pqp = tmp / "s.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), pqp)
    return {"jsonl": jl, "csv": csvp, "parquet": pqp}


def test_three_formats_load_to_the_same_records_and_commitment(tmp_path: Path) -> None:
    salt = b"s" * 32
    roots = set()
    for fmt, path in _write_all(tmp_path).items():
        s = load_seeds(path, FIELDS)
        assert s.format == fmt and len(s) == 3
        assert s.records == ROWS
        roots.add(commit_records(s.records, salt).root)
    assert len(roots) == 1


def test_commitment_matches_rfc6962_by_hand() -> None:
    salt = bytes(range(32))
    recs = [{"a": "x"}, {"a": "y"}, {"a": "z"}]
    leaves = [hashlib.sha256(b"\x00" + salt + canonicalize(r)).digest() for r in recs]
    left = hashlib.sha256(b"\x01" + leaves[0] + leaves[1]).digest()
    root = hashlib.sha256(b"\x01" + left + leaves[2]).digest()
    c = commit_records(recs, salt)
    assert c.root == root.hex() and c.count == 3 and c.scheme == "sha256-salted-merkle-v1"
    assert leaf_data(recs[0], salt) == salt + b'{"a":"x"}'


def test_nfkc_variants_commit_alike_and_salt_matters() -> None:
    salt = b"k" * 32
    full = [{"q": "ＡＢＣ１２３　ｶﾞ"}]
    half = [{"q": "ABC123 ガ"}]
    assert normalize_record(full) == half
    assert commit_records(full, salt).root == commit_records(half, salt).root
    assert commit_records(half, b"j" * 32).root != commit_records(half, salt).root
    assert commit_records([{"q": "ABC124 ガ"}], salt).root != commit_records(half, salt).root


def test_validation_errors_name_the_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text('{"q": "ok", "n": 1}\n{"q": "", "n": 2}\n{"q": "x", "n": "three"}\n[1, 2]\n')
    with pytest.raises(SeedError) as exc:
        load_seeds(p, FIELDS)
    msg = str(exc.value)
    assert "line 2: missing required field 'q'" in msg
    assert "line 3: field 'n': expected an integer" in msg
    assert "line 4: expected an object" in msg


def test_malformed_json_reports_line_and_column(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text('{"q": "ok", "n": 1}\n\n{"q": "broken", n: 2}\n')
    with pytest.raises(SeedError, match=r"bad\.jsonl:3: not valid JSON: .*column 17"):
        load_seeds(p, FIELDS)


def test_csv_errors_and_types(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text("q,n\nfine,1\nbad,one\n")
    with pytest.raises(SeedError, match="line 3: field 'n'"):
        load_seeds(p, FIELDS)
    p.write_text("q,n\nfine,1,extra\n")
    with pytest.raises(SeedError, match=r"bad\.csv:2: more values than header"):
        load_seeds(p, FIELDS)


@pytest.mark.parametrize(("name", "content", "needle"), [
    ("s.txt", "x", "unknown seed file type"),
    ("s.jsonl", "", "holds no records"),
    ("s.parquet", "not parquet", "not a readable Parquet"),
])
def test_bad_files(tmp_path: Path, name: str, content: str, needle: str) -> None:
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(SeedError, match=needle):
        load_seeds(p, FIELDS)
    with pytest.raises(SeedError, match="not found"):
        load_seeds(tmp_path / "missing.jsonl", FIELDS)


def test_private_store_modes_persistence_and_keys(tmp_path: Path) -> None:
    store = PrivateStore(tmp_path / "home" / "private")
    a = store.seed_salt("seeds-abc")
    assert len(a) == 32
    assert store.seed_salt("seeds-abc") == a  # persisted
    assert PrivateStore(tmp_path / "home" / "private").seed_salt("seeds-abc") == a
    assert store.seed_salt("other") != a
    assert stat.S_IMODE((tmp_path / "home" / "private").stat().st_mode) == 0o700
    for f in (tmp_path / "home" / "private" / "salts").iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    for bad in ("../escape", "", "a/b", ".hidden"):
        with pytest.raises(PrivateStoreError):
            store.seed_salt(bad)
    (tmp_path / "home" / "private" / "salts" / "short").write_bytes(b"abc")
    with pytest.raises(PrivateStoreError, match="corrupt"):
        store.seed_salt("short")


def test_commit_seeds_uses_the_store_salt(tmp_path: Path) -> None:
    paths = _write_all(tmp_path)
    seeds = load_seeds(paths["jsonl"], FIELDS)
    home1, home2 = PrivateStore(tmp_path / "h1"), PrivateStore(tmp_path / "h2")
    c1, c1b, c2 = commit_seeds(seeds, home1), commit_seeds(seeds, home1), commit_seeds(seeds, home2)
    assert c1 == c1b  # same node, same seeds: same commitment
    assert c1.root != c2.root  # another node's salt: unlinkable
    salt = next((tmp_path / "h1" / "salts").iterdir()).read_bytes()
    assert commit_records(seeds.records, salt) == c1


def test_commit_seeds_keys_the_salt_by_the_whole_sets_canonical_json(tmp_path: Path) -> None:
    """commit_seeds builds the salt key from the per-record canonical bytes; it must be the key
    `salt_key` derives from the canonical JSON of the whole (normalised) list."""
    records = [{"topic": "ｔｅａ", "fact": "\u65e5\u672c \"quoted\"\n", "n": 3}, {"topic": "b", "fact": "\U0001f600", "x": [1.5, None, True]},
               {"\u00e9": "e", "a": {"z": 1, "b": [2, {"c": "d"}]}}]
    store = PrivateStore(tmp_path / "h")
    c = commit_seeds(SeedSet(path=tmp_path / "s.jsonl", format="jsonl", records=records, locations=["line 1", "line 2", "line 3"]), store)
    key = salt_key(records)
    assert key == "seeds-" + hashlib.sha256(canonicalize([normalize_record(r) for r in records])).hexdigest()[:32]
    assert [p.name for p in (tmp_path / "h" / "salts").iterdir()] == [key]
    assert c == commit_records(records, store.seed_salt(key))
