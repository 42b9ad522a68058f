"""Record-level filtering: blamed records are dropped, the rest kept and published; the run is
refused only when a run-level gate fails or too few records are kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from gates_helpers import RunFactory

from synthspace.node.examples import example_path
from synthspace.node.gates import run_gates
from synthspace.node.recipes.loading import load_recipe
from synthspace.node.run_packaging import package_run_data

DATA = Path(__file__).parent / "data"
RECIPE = load_recipe(example_path("en_support.yaml"))


def good_en() -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in (DATA / "good_en.jsonl").read_text().splitlines()]


BAD = {
    "pii": [
        "Please call me back on 03-5555-1234 about my kettle.",
        "Sure, we will call you today.",
    ],
    "placeholder": ["Hello {{ customer_name }}, your kettle is fine.", "Thanks for {1} waiting."],
    "hex": ["Your token is 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822c.", "Thanks a lot."],
    "echo": [
        "Never include real names, phone numbers, e-mail addresses or order numbers.",
        "Write a NEW conversation with a different problem about a similar product.",
    ],
}


def _run(
    make_run: RunFactory, records: list[dict[str, Any]], target: int | None = None, **gates: Any
) -> Path:
    return make_run(
        records,
        target=target,
        schema=RECIPE.output_json_schema(),
        locale="en_US",
        gates=gates,
        prompt={"system": RECIPE.prompt.system, "template": RECIPE.prompt.template},
    )


def test_blamed_records_are_dropped_and_never_published(
    make_run: RunFactory, tmp_path: Path
) -> None:
    good = good_en()
    records = list(good)
    bad_at = {}
    for k, (name, dialogue) in enumerate(BAD.items()):
        pos = 3 + 7 * k
        records.insert(pos, {**good[k], "dialogue": dialogue})
        bad_at[name] = pos
    records.append(dict(records[0]))  # an exact duplicate, dropped too
    run = _run(make_run, records)
    report = run_gates(run)
    assert report.passed, report.failed_blocking
    positions = {p for ps in report.dropped_positions.values() for p in ps}
    # Positions move as records are inserted: recompute where each bad record ended up.
    texts = [r["dialogue"][0] for r in records]
    expected = {texts.index(d[0]) for d in BAD.values()} | {len(records) - 1}
    assert positions == expected
    assert report.kept == len(records) - len(expected) == len(good)
    assert any(r.startswith("pii:") and "phone" in r for r in report.dropped_by_reason)
    assert {
        "usefulness:placeholder",
        "usefulness:hex_run",
        "usefulness:instruction_echo",
        "duplicate",
    } <= set(report.dropped_by_reason)
    flt = report.gate("record_filter")
    assert flt.passed and flt.metrics["kept"] == report.kept
    assert flt.metrics["dropped_by_reason"] == report.dropped_by_reason
    assert flt.metrics["dropped_positions"] == report.dropped_positions
    # The lineage carries positions and counts only, never text.
    blob = json.dumps([g.model_dump(mode="json") for g in report.gates], ensure_ascii=False)
    for dialogue in BAD.values():
        assert dialogue[0] not in blob and "03-5555-1234" not in blob
    # Publishing packages the kept records only: decode the Parquet it would sign.
    out = tmp_path / "data.parquet"
    count = package_run_data(run, out, exclude_record_ids=report.exclude_record_ids)
    table = pq.read_table(out)
    assert count == table.num_rows == report.kept
    published = table.column("record_id").to_pylist()
    assert not set(published) & set(report.exclude_record_ids)
    assert all(d[0] not in json.dumps(table.to_pylist(), ensure_ascii=False) for d in BAD.values())
    saved = json.loads((run / "gate-report.json").read_text(encoding="utf-8"))
    assert saved["kept"] == report.kept and saved["dropped_by_reason"] == report.dropped_by_reason


def test_too_few_kept_records_refuse_the_run(make_run: RunFactory) -> None:
    good = good_en()[:10]
    junk = [
        {**good[0], "dialogue": [f"{{{{ slot_{i} }}}} {i:040d}", f"{i:x}" * 20]} for i in range(15)
    ]
    report = run_gates(_run(make_run, good + junk))
    assert not report.passed
    assert {"record_filter", "usefulness"} <= set(report.failed_blocking)
    assert report.gate("record_filter").metrics["kept_share"] == round(10 / 25, 6)
    # A lower min_kept accepts the same run (and still drops the junk).
    relaxed = run_gates(_run(make_run, good + junk, filtering={"min_kept": 0.3}))
    assert relaxed.passed and relaxed.kept == 10


def test_all_or_nothing_mode_fails_the_gate_instead(make_run: RunFactory) -> None:
    records = good_en()
    records[5] = {**records[5], "dialogue": BAD["pii"]}
    report = run_gates(_run(make_run, records, filtering={"drop_records": False}))
    assert not report.passed and "pii" in report.failed_blocking
    assert report.kept == len(records)


def test_a_collapsed_enum_fails_the_diversity_gate(make_run: RunFactory) -> None:
    records = [{**r, "category": "billing"} for r in good_en()]
    report = run_gates(_run(make_run, records))
    div = report.gate("diversity")
    assert not div.passed and "diversity" in report.failed_blocking
    assert any("category" in p for p in div.metrics["problems"])
    varied = run_gates(_run(make_run, good_en()))
    assert varied.gate("diversity").passed, varied.gate("diversity").metrics


def test_overgenerated_run_keeps_its_target_and_drops_the_surplus(
    make_run: RunFactory, tmp_path: Path
) -> None:
    from synthspace.node.generate.planning import plan_size

    recipe = RECIPE.model_copy(
        update={"generation": RECIPE.generation.model_copy(update={"overgenerate": 1.5})}
    )
    assert plan_size(recipe, 12, 20) == (20, 30) and plan_size(RECIPE, 12, 20) == (20, 20)
    good = good_en()
    records = good[:6] + [{**good[6], "dialogue": BAD["placeholder"]}] + good[6:]
    report = run_gates(_run(make_run, records, target=30))
    flt = report.gate("record_filter")
    assert report.passed and report.kept == 30 and flt.metrics["surplus"] == len(good) - 30
    assert report.dropped_by_reason["surplus"] == len(good) - 30
    assert max(report.dropped_positions["surplus"]) == len(records) - 1  # the last ones go
    assert flt.metrics["kept_share"] == round(len(good) / len(records), 6)
    out = tmp_path / "data.parquet"
    assert (
        package_run_data(_run(make_run, records, target=30), out, report.exclude_record_ids) == 30
    )
