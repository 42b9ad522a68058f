"""Grounding validators declared in a recipe, and the seed commitment check of a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from gates_helpers import RunFactory, clean_corpus, make_seeds

from synthspace.errors import ConfigError
from synthspace.node.examples import example_path
from synthspace.node.gates import RunDirError, gate_records, run_gates
from synthspace.node.private_store import PrivateStore
from synthspace.node.recipes import parse_recipe
from synthspace.node.seeds import commit_records, salt_key

DATA = Path(__file__).parent / "data"


def odd_satisfaction(record: dict[str, Any], seed: dict[str, Any] | None) -> bool | str:
    """A custom validator (imported by path from the recipe)."""
    return "even" if int(record["difficulty"] == "応用") else True


def _recipe(validators: list[dict[str, Any]]) -> Any:
    data = yaml.safe_load(example_path("ja_legal_qa.yaml").read_text(encoding="utf-8"))
    data["gates"] = {"usefulness": {"validators": validators}, "diversity": {"enabled": False}}
    return parse_recipe(yaml.safe_dump(data, allow_unicode=True))


def _reasons(
    tmp_path: Path, recipe: Any, records: list[dict[str, Any]], seeds: bool = True
) -> list[list[str]]:
    path = tmp_path / "r.jsonl"
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    seeds_path = example_path("ja_legal_qa_seeds.jsonl") if seeds else None
    # Only the grounding verdicts: these records are built from the seeds, so they also leak.
    return [
        [r for r in rs if r.startswith("grounding:")]
        for r in [None]
        for rs in gate_records(path, recipe, seeds_path).reasons
    ]


def test_seed_regex_enum_range_and_callable_validators(tmp_path: Path) -> None:
    good = [
        json.loads(ln) for ln in (DATA / "good_ja.jsonl").read_text(encoding="utf-8").splitlines()
    ][-12:]
    records = [dict(r) for r in good]  # built from the seeds: they cite the seeds' statutes
    records[1]["cited_article"] = "架空・存在しない法 第99条"
    records[2]["question"] = records[2]["question"].replace("。", "")
    recipe = _recipe(
        [
            {
                "kind": "seed_contains",
                "field": "cited_article",
                "seed_field": "statute",
                "scope": "any",
            },
            {"kind": "regex", "field": "question", "pattern": "[。？?]$"},
            {"kind": "enum", "field": "difficulty", "values": ["基礎", "応用"]},
            {"kind": "range", "field": "question", "minimum": 0},
        ]
    )
    why = _reasons(tmp_path, recipe, records)
    assert "grounding:cited_article" in why[1] and "grounding:cited_article" not in why[0]
    assert "grounding:question" in why[2]
    # The range validator on a text field fails every record: a positive control.
    assert all("grounding:question" in w for w in why)
    equals = _recipe(
        [{"kind": "seed_equals", "field": "cited_article", "seed_field": "statute", "scope": "any"}]
    )
    assert _reasons(tmp_path, equals, records[:1]) == [[]]
    custom = _recipe(
        [{"kind": "callable", "target": f"{__name__}:odd_satisfaction", "name": "parity"}]
    )
    why = _reasons(tmp_path, custom, records[:2])
    assert [("grounding:parity:even" in w) for w in why] == [
        r["difficulty"] == "応用" for r in records[:2]
    ]
    # A named rule reports its name, so two rules on one field can be told apart.
    named = _recipe(
        [
            {"kind": "regex", "field": "question", "pattern": "[。？?]$", "name": "ends_a_question"},
            {"kind": "range", "field": "question", "minimum": 0},
        ]
    )
    why = _reasons(tmp_path, named, records[1:3])
    assert ["grounding:ends_a_question" in w for w in why] == [False, True]
    assert all("grounding:question" in w for w in why)
    with pytest.raises(ConfigError, match="give the seeds"):
        _reasons(tmp_path, recipe, records, seeds=False)
    broken = _recipe([{"kind": "callable", "target": "no_such_module:f"}])
    with pytest.raises(ConfigError, match="cannot be imported"):
        _reasons(tmp_path, broken, records)


def test_seeds_are_checked_against_the_runs_commitment(
    make_run: RunFactory, tmp_path: Path
) -> None:
    seeds = make_seeds(40)
    run = make_run(clean_corpus(50), seeds=seeds)
    home = tmp_path / "home"
    store = PrivateStore.for_home(home)
    salt = store.seed_salt(salt_key(seeds))
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    manifest["seed_commitment"]["root"] = commit_records(seeds, salt).root
    (run / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    assert run_gates(run, home=home, write=False).records == 50  # verified against the root
    manifest["seed_commitment"]["root"] = "cd" * 32
    (run / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(RunDirError, match="seed commitment"):
        run_gates(run, home=home, write=False)
    seeds_path = Path(manifest["seeds_path"])
    seeds_path.write_text(
        seeds_path.read_text(encoding="utf-8").split("\n", 1)[1], encoding="utf-8"
    )
    with pytest.raises(RunDirError, match="committed to 40"):
        run_gates(run, home=home, write=False)
