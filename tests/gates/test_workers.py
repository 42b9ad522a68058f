"""Gate work split over threads and forked processes gives exactly the serial results."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from gates_helpers import RunFactory, clean_corpus, make_seeds

from synthspace.demo.plans import ORGS
from synthspace.node import workers
from synthspace.node.gates import gate_records, quality_checks, run_gates
from synthspace.node.privacy.pii import find_pii
from synthspace.node.recipes.loading import load_recipe


def test_worker_count_follows_env_and_item_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNTHSPACE_GATE_WORKERS", "3")
    assert workers.worker_count(100_000) == 3
    assert workers.worker_count(4_000) == 2  # one worker per 2,000 items at most
    assert workers.worker_count(10) == 1
    monkeypatch.setenv("SYNTHSPACE_GATE_WORKERS", "1")
    assert workers.worker_count(100_000) == 1
    assert workers.ranges(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert workers.ranges(0, 2) == [(0, 0)]


def test_forked_ranges_return_in_order_and_failures_surface_here() -> None:
    def squares(lo: int, hi: int) -> list[tuple[int, int]]:
        return [(i, i * i) for i in range(lo, hi)]

    job = workers.ForkedRanges(squares, 1001, 3)
    assert job.forked == 3
    assert job.results() == squares(0, 1001)

    parent = os.getpid()

    def fails_in_children(lo: int, hi: int) -> list[int]:
        if os.getpid() != parent:
            raise ValueError("child")
        return list(range(lo, hi))

    # A child that fails has its range re-run in the parent: same result as serial.
    assert workers.ForkedRanges(fails_in_children, 50, 2).results() == list(range(50))

    def always_fails(lo: int, hi: int) -> list[int]:
        raise KeyError(f"{lo}-{hi}")

    with pytest.raises(KeyError):
        workers.ForkedRanges(always_fails, 50, 2).results()


def test_threaded_name_recogniser_matches_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [
        f"{s}{g}さんの住所: 大阪市北区梅田{k % 9 + 1}-{k % 7 + 1}-3。担当の佐藤様へ。"
        for k, (s, g) in enumerate(
            (s, g) for s in ("山田", "鈴木", "高橋", "田中") for g in ("太郎", "花子", "健一")
        )
    ] * 400  # 4,800 texts: two threads
    monkeypatch.setenv("SYNTHSPACE_GATE_WORKERS", "2")
    threaded = find_pii(texts, ["person_name", "street_address"], locale="ja_JP")
    monkeypatch.setenv("SYNTHSPACE_GATE_WORKERS", "1")
    serial = find_pii(texts, ["person_name", "street_address"], locale="ja_JP")
    assert threaded == serial
    # Positive control: every text has a full name, an honorific name and an address.
    assert {f.doc for f in serial if f.type == "person_name"} == set(range(len(texts)))
    assert {f.doc for f in serial if f.type == "street_address"} == set(range(len(texts)))
    assert {f.value for f in serial if f.doc == 0} >= {"山田太郎", "佐藤", "大阪市北区梅田1-1-3"}


def test_forked_usefulness_gives_the_same_report(
    make_run: RunFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeds = make_seeds(40)
    records = clean_corpus(300, seed=5)
    # Records the usefulness gate must drop, spread over both workers' ranges.
    for k in (3, 120, 299):
        records[k] = "aGVsbG8gd29ybGQgdGhpcyBpcyBiYXNlNjQ0NDQ0NDQ0 0x9f3a2b7c1d4e5f6a7b8c"
    records[200] = "{{ answer }}"
    run = make_run(
        records,
        seeds=seeds,
        seed_indices=[k % 30 for k in range(300)],
        gates={"usefulness": {"enabled": True}},
    )
    monkeypatch.setenv("SYNTHSPACE_GATE_WORKERS", "1")
    serial = run_gates(run, write=False)
    monkeypatch.setenv("SYNTHSPACE_GATE_WORKERS", "2")
    monkeypatch.setattr(quality_checks, "_USEFULNESS_MIN_PER_WORKER", 10)
    started: list[int] = []
    real = workers.ForkedRanges.__init__

    def spy(self: workers.ForkedRanges[object], *args: object) -> None:
        real(self, *args)  # type: ignore[arg-type]
        started.append(self.forked)

    monkeypatch.setattr(workers.ForkedRanges, "__init__", spy)
    forked = run_gates(run, write=False)
    assert started == [2]
    for a, b in zip(serial.gates, forked.gates, strict=True):
        assert a.name == b.name and a.metrics == b.metrics, a.name
    assert serial.dropped_positions == forked.dropped_positions
    useless = {
        p for r, ps in serial.dropped_positions.items() if r.startswith("usefulness:") for p in ps
    }
    assert {3, 120, 200, 299} <= useless, serial.dropped_by_reason
    assert 200 in serial.dropped_positions["usefulness:placeholder"]


@pytest.mark.parametrize(
    ("org", "name", "with_seeds"),
    [
        ("kanagawa-legal", "grounding_legal", True),
        ("osaka-support", "roles_support", True),
        ("kanagawa-legal", "grounding_legal", False),
    ],
    ids=["legal", "support", "legal-no-seeds"],
)
def test_forked_faithfulness_gives_the_same_outcome(
    org: str, name: str, with_seeds: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Answer grounding in workers: same verdicts, and the unjudged count (a counter the
    checker keeps) comes back from the workers."""
    plan = next(p for p in ORGS if p.org == org)
    data = Path(__file__).parent / "data"
    lines = [
        json.loads(ln)
        for part in ("bad", "good")
        for ln in (data / f"{name}_{part}.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), "utf-8")
    recipe = load_recipe(plan.recipe)
    seeds = plan.seeds if with_seeds else None
    cfg = recipe.gates
    assert cfg is not None
    if not with_seeds:  # seed-field validators refuse to run without seeds: leave them out
        cfg = cfg.model_copy(
            update={"usefulness": cfg.usefulness.model_copy(update={"validators": []})}
        )
    monkeypatch.setenv("SYNTHSPACE_GATE_WORKERS", "1")
    serial = gate_records(path, recipe, seeds, cfg)
    monkeypatch.setenv("SYNTHSPACE_GATE_WORKERS", "2")
    monkeypatch.setattr(quality_checks, "_USEFULNESS_MIN_PER_WORKER", 10)
    forked = gate_records(path, recipe, seeds, cfg)
    assert forked.reasons == serial.reasons
    a, b = serial.report.gate("usefulness").metrics, forked.report.gate("usefulness").metrics
    assert a == b
    assert a["answer_grounding_rules"] + a["role_rules"] >= 1
    # Positive control: without seeds nothing can be judged for grounding, and it is counted.
    if a["answer_grounding_rules"]:
        assert (a["answer_grounding_unjudged"] > 0) is (not with_seeds)
    assert any("usefulness:" in r for why in serial.reasons for r in why)
