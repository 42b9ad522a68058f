"""run_gates over real run directories: verdicts, report contents, privacy of the report."""

from __future__ import annotations

import json
import os
import random
import stat
from pathlib import Path

import pandas as pd
import pytest
from gates_helpers import (
    LEGACY_GATES,
    SCHEMA,
    RunFactory,
    clean_corpus,
    make_personas,
    make_seeds,
)

from synthspace.errors import ConfigError, SynthspaceError
from synthspace.node.gates import (
    GateReportError,
    GatesConfig,
    RunDirError,
    gates_config_from_mapping,
    load_gates_config,
    load_report,
    run_gates,
)
from synthspace.node.privacy.text import match_form

CANARY = "SYNTHSPACE-CANARY-7f3a9c21d4e5"


def seed_strings(seeds: list[dict[str, str]]) -> list[str]:
    return [v for s in seeds for v in s.values()]


def assert_no_seed_text(blob: bytes, seeds: list[dict[str, str]], pii_values: list[str]) -> None:
    text = blob.decode("utf-8")
    # No 12-character window of any seed (in any normal form) appears in the report.
    for value in seed_strings(seeds):
        for form in (value, match_form(value)):
            for i in range(0, max(1, len(form) - 12), 6):
                assert form[i : i + 12] not in text
    for v in pii_values:
        assert v not in text
        assert json.dumps(v)[1:-1] not in text


def test_clean_run_passes_and_report_round_trips(make_run: RunFactory) -> None:
    run = make_run(clean_corpus(800))
    report = run_gates(run)
    assert report.passed, report.failed_blocking
    names = [g.name for g in report.gates]
    for expected in (
        "seed_leakage",
        "pii",
        "pii_replay",
        "canaries",
        "near_duplicates",
        "schema_validity",
        "quality",
        "persona_coverage",
    ):
        assert expected in names
    loaded = load_report(run)
    assert loaded == report
    # Gate results go into the signed lineage: they must canonicalise (no NaN, plain types).
    from synthspace.canonical_json import canonicalize

    assert canonicalize([g.model_dump(mode="json") for g in report.gates])
    q = report.gate("quality").metrics
    assert 0 < q["distinct_1"] < q["distinct_2"] <= 1
    assert q["length_chars"]["count"] == 800 and q["compression_ratio"] > 1
    cov = report.gate("persona_coverage").metrics["attributes"]
    assert cov["sex"]["value_coverage"] == 1.0 and "20-29" in cov["age"]["persona_share"]
    assert report.gate("persona_coverage").metrics["min_value_coverage"] == 1.0
    assert not list(run.glob(".gate-report.json.*")), "temp file left behind"


def test_planted_leaks_pii_replay_and_canaries_fail_without_leaking_into_report(
    make_run: RunFactory,
) -> None:
    rng = random.Random(2)
    seeds = make_seeds(40)
    seed_pii = ["yamada.taro@lawfirm.co.jp", "090-8765-4321", "123456789018"]
    seeds[3]["question"] += f"連絡先は{seed_pii[0]}、電話{seed_pii[1]}、個人番号{seed_pii[2]}です。"
    seeds[7]["answer"] += f"管理番号{CANARY}。"
    records = clean_corpus(1000, seed=4)
    planted: dict[str, list[int]] = {"leak": [], "replay": [], "canary": []}
    for k in range(20):
        pos = 10 + k * 37
        s = seeds[rng.randrange(40)]["answer"]
        start = rng.randrange(0, len(s) - 60)
        records[pos] = "はい。" + s[start : start + 55] + "以上です。"
        planted["leak"].append(pos)
    records[500] = "ご連絡は０９０－８７６５－４３２１まで。"  # full-width replay of a seed phone
    records[501] = "メールはYAMADA.TARO@LAWFIRM.CO.JPへ"  # case variant of a seed e-mail
    records[502] = "番号1234 5678 9018を記入"  # seed My Number in another layout
    planted["replay"] = [500, 501, 502]
    records[600] = "記録 synthspace-canary-7F3A9C21D4E5 を参照"  # case variant of the canary
    records[601] = "記録 " + " ".join(CANARY) + " 終"  # spaced-out canary
    planted["canary"] = [600, 601]
    run = make_run(records, seeds=seeds)
    report = run_gates(run)
    assert not report.passed
    assert set(report.failed_blocking) >= {"seed_leakage", "pii", "pii_replay", "canaries"}
    leak = report.gate("seed_leakage").metrics
    assert set(planted["leak"]) <= set(leak["failing_positions"])
    # Nothing clean failed: the only other failures are the short records replaying seed PII
    # or canaries, which copy seed characters verbatim too.
    assert set(leak["failing_positions"]) <= set(planted["leak"]) | set(planted["replay"]) | set(
        planted["canary"]
    )
    replay = report.gate("pii_replay").metrics
    assert replay["positions"] == planted["replay"]
    assert replay["replayed_by_type"] == {"email": 1, "my_number": 1, "phone": 1}
    assert report.gate("canaries").metrics["positions"] == planted["canary"]
    blob = (run / "gate-report.json").read_bytes()
    assert_no_seed_text(
        blob, seeds, seed_pii + [CANARY, CANARY.lower(), "09087654321", "+819087654321"]
    )
    assert b"seed_index" not in blob
    # The node-private detail names the seeds; it is private and owner-only.
    detail_path = run / "private" / "gate-detail.json"
    detail = json.loads(detail_path.read_text(encoding="utf-8"))
    failed = {d["position"] for d in detail["seed_leakage"] if d["status"] == "fail"}
    assert failed == set(leak["failing_positions"])
    assert all(0 <= d["seed_index"] < 40 for d in detail["seed_leakage"])
    assert [d["seed_indices"] for d in detail["pii_replay"]] == [[3], [3], [3]]
    assert stat.S_IMODE(os.stat(detail_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(run / "private").st_mode) == 0o700
    assert_no_seed_text(detail_path.read_bytes(), seeds, seed_pii + [CANARY])


def test_duplicates_exact_removed_and_near_rate_blocks(make_run: RunFactory) -> None:
    base = clean_corpus(300, seed=8)
    records = base + base[:20] + [t[:-6] + "追記です。" for t in base[20:100]]
    run = make_run(records)
    report = run_gates(run)
    nd = report.gate("near_duplicates")
    assert nd.metrics["exact_duplicates_removed"] == 20
    assert report.exclude_record_ids == [f"r{i:06d}" for i in range(300, 320)]
    assert nd.metrics["near_duplicate_records"] >= 70
    assert not nd.passed and "near_duplicates" in report.failed_blocking
    relaxed = run_gates(
        run, GatesConfig.model_validate({**LEGACY_GATES, "near_duplicates": {"max_rate": 0.5}})
    )
    assert relaxed.gate("near_duplicates").passed and relaxed.passed


def test_schema_validity_counts_bad_records(make_run: RunFactory) -> None:
    records: list[object] = [{"question": "q", "answer": t} for t in clean_corpus(150, seed=9)]
    records[3] = {"question": "", "answer": "短い回答"}
    records[4] = {"question": "q", "answer": "x" * 5000}
    report = run_gates(make_run(records))
    sv = report.gate("schema_validity")
    assert sv.metrics["valid"] == 148 and not sv.passed  # 98.7% < 99%
    assert sv.metrics["invalid_by_field"] == {"question": 1, "answer": 1}


def test_membership_auc_detects_memorised_seeds(make_run: RunFactory) -> None:
    seeds = make_seeds(40)
    used = list(range(30))
    records, seed_idx = [], []
    for k in range(300):
        i = used[k % 30]
        s = seeds[i]["answer"]
        records.append("要約:" + s[: 20 + (k % 7)] + "。" + clean_corpus(1, seed=k)[0])
        seed_idx.append(i)
    cfg = {**LEGACY_GATES, "leakage": {"lcs_fail_chars": 200}, "membership": {"max_auc": 0.7}}
    report = run_gates(
        make_run(records, seeds=seeds, seed_indices=seed_idx), gates_config_from_mapping(cfg)
    )
    m = report.gate("membership")
    assert m.metrics["used_seeds"] == 30 and m.metrics["holdout_seeds"] == 10
    assert m.metrics["auc"] > 0.9 and not m.passed
    clean = run_gates(
        make_run(clean_corpus(300), seeds=seeds, seed_indices=[k % 30 for k in range(300)])
    )
    assert 0.3 <= clean.gate("membership").metrics["auc"] <= 0.7 and clean.gate("membership").passed


def test_config_from_recipe_yaml_and_errors(make_run: RunFactory, tmp_path: Path) -> None:
    records = clean_corpus(100)
    records[1] = "問い合わせはinfo@acme-corp.co.jpへ"
    run = make_run(records, gates={"pii": {"blocking_types": ["phone"]}})
    report = run_gates(run)  # the recipe's gates: section applies
    assert report.gate("pii").passed and report.gate("pii").metrics["findings_by_type"] == {
        "email": 1
    }
    gates_yaml = tmp_path / "gates.yaml"
    gates_yaml.write_text(
        "pii:\n  max_record_rate: 0.0\nleakage:\n  allowlist_file: allow.txt\n"
        "filtering:\n  drop_records: false\n",
        encoding="utf-8",
    )
    (tmp_path / "allow.txt").write_text("# statutes\n民法第709条\n", encoding="utf-8")
    cfg = load_gates_config(gates_yaml)
    assert cfg.allowlist() == ["民法第709条"]
    assert not run_gates(run, cfg).gate("pii").passed  # explicit config overrides the recipe
    recipe_yaml = tmp_path / "recipe.yaml"
    recipe_yaml.write_text(
        "task: t\noutput_fields: []\ngates:\n  near_duplicates:\n    max_rate: 0.3\n",
        encoding="utf-8",
    )
    assert load_gates_config(recipe_yaml).near_duplicates.max_rate == 0.3
    with pytest.raises(ConfigError, match="leakage.ngram_size"):
        gates_config_from_mapping({"leakage": {"ngram_size": 5}})
    with pytest.raises(ConfigError, match="lcs_fail_chars must be greater"):
        gates_config_from_mapping({"leakage": {"lcs_fail_chars": 10}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("pii: [1, 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_gates_config(bad)


def test_bad_run_directories_raise_named_errors(make_run: RunFactory, tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="does not exist"):
        run_gates(tmp_path / "nope")
    run = make_run(clean_corpus(10))
    with pytest.raises(GateReportError, match="run `synthspace gate"):
        load_report(run)
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    Path(manifest["seeds_path"]).unlink()
    with pytest.raises(RunDirError, match="seed file not found"):
        run_gates(run)
    for shard in (run / "shards").glob("*.parquet"):
        shard.rename(shard.with_suffix(".tmp"))
    with pytest.raises(RunDirError, match="no part-"):
        run_gates(run)
    assert issubclass(RunDirError, SynthspaceError)


def test_gates_read_string_list_fields_and_skip_private_columns(make_run: RunFactory) -> None:
    personas = make_personas(5)
    records = [
        {
            "question": "q",
            "answer": "a",
            "turns": ["こんにちは", f"電話は03-5{k:03d}-1234です"],
            "_note": "090-1111-2222",
        }
        for k in range(5)
    ]
    schema = {
        **SCHEMA,
        "properties": {
            **SCHEMA["properties"],
            "turns": {"type": "array", "items": {"type": "string"}},
        },
    }
    run = make_run(records, personas=personas, schema=schema)
    report = run_gates(run, write=False)
    assert report.gate("pii").metrics["records_with_pii"] == 5
    assert report.gate("pii").metrics["findings_by_type"] == {"phone": 5}
    assert not (run / "gate-report.json").exists()
    assert pd.read_parquet(next((run / "shards").glob("*.parquet"))).shape[0] == 5


def test_block_wise_processing_gives_the_same_report(
    make_run: RunFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Corpus-wide passes run block by block; tiny blocks must not change any result."""
    from synthspace.node.privacy import text

    seeds = make_seeds(40)
    records = clean_corpus(400, seed=12)
    for k in range(0, 400, 37):
        records[k] = "写し:" + seeds[k % 40]["answer"][:64] + records[k][:40]
    records[50] = "連絡は090-3333-4444、番号123456789018まで"
    records[399] = records[398]
    run = make_run(records, seeds=seeds, seed_indices=[k % 30 for k in range(400)])
    whole = run_gates(run, write=False)
    monkeypatch.setattr(text, "BLOCK_CHARS", 700)  # a few records per block
    tiny = run_gates(run, write=False)
    for a, b in zip(whole.gates, tiny.gates, strict=True):
        assert a.name == b.name and a.metrics == b.metrics, a.name
    assert whole.exclude_record_ids == tiny.exclude_record_ids == ["r000399"]
    assert whole.gate("seed_leakage").metrics["failing_records"] == len(range(0, 400, 37))


def test_coverage_gate_flags_a_missing_population_segment(make_run: RunFactory) -> None:
    personas = make_personas(30)
    tokyo = personas.loc[personas["prefecture"] == "東京都", "persona_id"].tolist()
    records = [
        {"question": "q", "answer": t, "persona_id": tokyo[i % len(tokyo)]}
        for i, t in enumerate(clean_corpus(60))
    ]
    cfg = gates_config_from_mapping(
        {**LEGACY_GATES, "persona_coverage": {"min_value_coverage": 1.0, "blocking": True}}
    )
    report = run_gates(make_run(records, personas=personas), cfg)
    cov = report.gate("persona_coverage")
    assert not cov.passed and "persona_coverage" in report.failed_blocking
    pref = cov.metrics["attributes"]["prefecture"]
    assert pref["record_share"]["東京都"] == 1.0 and pref["value_coverage"] == round(1 / 3, 4)
    assert pref["total_variation"] == round(1 - pref["persona_share"]["東京都"], 4)


def test_thresholds_come_from_the_manifest_and_running_runs_are_refused(
    make_run: RunFactory, tmp_path: Path
) -> None:
    """The recipe's `gates:` travel in the typed manifest; moving or deleting the recipe file
    changes nothing, and a run still generating is refused."""
    from synthspace.node.generate.manifest import load_manifest

    records = clean_corpus(50)
    records[4] = "問い合わせはinfo@acme-corp.co.jpへ"
    run = make_run(records, gates={**LEGACY_GATES, "pii": {"blocking_types": ["phone"]}})
    manifest = load_manifest(run)
    assert manifest.recipe.gates is not None and manifest.recipe.path is None
    report = run_gates(run)
    assert report.gate("schema_validity").metrics["checked"] is True
    pii = report.gate("pii")
    assert pii.passed and pii.thresholds["blocking_types"] == ["phone"]
    assert pii.metrics["findings_by_type"] == {"email": 1}
    manifest.status = "running"
    (run / "manifest.json").write_text(manifest.model_dump_json(), encoding="utf-8")
    with pytest.raises(RunDirError, match="still running"):
        run_gates(run)
