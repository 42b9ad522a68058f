"""Benchmark loader, interval maths and the shipped statute benchmarks (no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthspace.node.evaluation.benchmark import BenchmarkError, load_benchmark, shipped_benchmark
from synthspace.node.evaluation.stats import paired_delta_interval, wilson_interval

EXAMPLES = Path(__file__).resolve().parents[3] / "src/synthspace/node/examples"


def test_wilson_interval_known_values() -> None:
    low, high = wilson_interval(7, 36)
    assert low == pytest.approx(0.0977, abs=1e-3) and high == pytest.approx(0.3502, abs=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_paired_delta_interval() -> None:
    mean, low, high = paired_delta_interval([False] * 10, [True] * 10)
    assert mean == 1.0 and low == 1.0 and high == 1.0
    mean, low, high = paired_delta_interval([True, False, True, False], [True, True, False, False])
    assert mean == 0.0 and low < 0 < high
    with pytest.raises(ValueError):
        paired_delta_interval([True], [True, False])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not JSON"),
        (
            '{"id": "a", "kind": "choice", "question": "q", "options": ["x", "y"], "answer": 2}',
            "not an index",
        ),
        (
            '{"id": "a", "kind": "choice", "question": "q", "options": ["x", "x"], "answer": 0}',
            "repeat",
        ),
        (
            '{"id": "a", "kind": "exact", "question": "q", "answer": "x", "extra": 1}',
            "invalid item",
        ),
        ('{"id": "a", "kind": "judged", "question": "q"}', r"invalid item \(judged.answer"),
        (
            '{"id": "a", "kind": "judged", "question": "q", "answer": "x", "min_score": 6}',
            r"invalid item \(judged.min_score",
        ),
        (
            '{"id": "a", "kind": "choice", "question": "q", "options": ["x", "y"], "answer": "0"}',
            "invalid item",
        ),
    ],
)
def test_bad_items_are_refused_with_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "b.jsonl"
    path.write_text(
        '{"id": "ok", "kind": "exact", "question": "q", "answer": "a"}\n' + line + "\n",
        encoding="utf-8",
    )
    with pytest.raises(BenchmarkError, match=message) as exc:
        load_benchmark(path)
    assert ":2:" in str(exc.value)


def test_duplicate_ids_and_empty_files_are_refused(tmp_path: Path) -> None:
    item = '{"id": "a", "kind": "exact", "question": "q", "answer": "x"}\n'
    (tmp_path / "dup.jsonl").write_text(item * 2, encoding="utf-8")
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(BenchmarkError, match="repeats"):
        load_benchmark(tmp_path / "dup.jsonl")
    with pytest.raises(BenchmarkError, match="no items"):
        load_benchmark(tmp_path / "empty.jsonl")


def _seed_texts() -> set[str]:
    texts: set[str] = set()
    for path in EXAMPLES.glob("*seeds*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.update(str(v).strip() for v in json.loads(line).values())
    return texts


@pytest.mark.parametrize("name", ["ja_statutes", "en_statutes"])
def test_shipped_benchmarks_are_valid_and_copy_no_seed_text(name: str) -> None:
    items = load_benchmark(shipped_benchmark(name))
    assert len(items) >= 36
    seeds = _seed_texts()
    assert len(seeds) > 20  # positive control: the seed texts were found
    for item in items:
        texts = [item.question, *getattr(item, "options", [])]
        assert not seeds.intersection(t.strip() for t in texts), item.id
    # answers are spread over positions, so "always pick A" does not score
    assert len({getattr(i, "answer", None) for i in items}) > 1


def test_seed_copy_check_has_teeth(tmp_path: Path) -> None:
    """Positive control: an item whose question IS a seed text is caught by the same comparison."""
    seed_line = (EXAMPLES / "ja_legal_qa_seeds.jsonl").read_text(encoding="utf-8").splitlines()[0]
    question = json.loads(seed_line)["question"]
    assert question.strip() in _seed_texts()
