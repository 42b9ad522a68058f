"""`pii.action: redact`: PII spans replaced by typed placeholders or fictional values, the
record kept; what cannot be redacted (PII still found afterwards) is dropped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from gates_helpers import RunFactory

from synthspace.node.gates import gates_config_from_mapping, run_gates
from synthspace.node.gates.redaction import REDACTIONS_FILE, load_redactions, synthetic_value
from synthspace.node.privacy.pii import find_pii

GOOD_EN = (Path(__file__).parent / "data" / "good_en.jsonl").read_text("utf-8").splitlines()
GOOD_JA = (Path(__file__).parent / "data" / "good_ja.jsonl").read_text("utf-8").splitlines()

EN_PII = (
    "Hi, I spoke to Michael Thompson yesterday about my kettle; call me on (415) 555-2671 or "
    "mail jane.roe@gmail.com please."
)
EN_ORIGINALS = ("Michael Thompson", "(415) 555-2671", "415", "2671", "jane.roe@gmail.com")
# The long e-mail keeps "SSN" more than 32 characters from the number: only the redaction,
# shortening the text, brings the label close enough for the SSN detector to fire.
EN_HIDDEN_SSN = "Form: SSN (see alice.longer.address.here@gmail.com) 123456789."
JA_PII = "山田太郎様から、電話03-1234-5678またはtaro.yamada@gmail.comへ連絡してほしいとの依頼がありました。"
JA_ORIGINALS = ("山田太郎", "03-1234-5678", "1234-5678", "taro.yamada@gmail.com")

EN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "dialogue": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["dialogue"],
}


def _gates(action: str, redaction: str = "placeholder") -> dict[str, Any]:
    # Small corpora: diversity statistics are not what is tested here.
    return {
        "pii": {"action": action, "redaction": redaction},
        "diversity": {"enabled": False},
    }


def _en_records(plant: dict[int, list[str]]) -> list[dict[str, Any]]:
    rows = []
    for i, line in enumerate(GOOD_EN[:30]):
        rec = json.loads(line)
        rows.append({"dialogue": plant.get(i, rec["dialogue"])})
    return rows


def _ja_records(plant: dict[int, str]) -> list[dict[str, Any]]:
    rows = []
    for i, line in enumerate(GOOD_JA[:30]):
        rec = json.loads(line)
        rows.append({**rec, "answer": plant.get(i, rec["answer"])})
    return rows


def _en_run(make_run: RunFactory, gates: dict[str, Any], plant: dict[int, list[str]]) -> Path:
    return make_run(
        _en_records(plant),
        locale="en_US",
        schema=EN_SCHEMA,
        gates=gates,
        seeds=[{"customer": "My toaster broke.", "agent": "Sorry to hear that."}] * 5,
    )


def _redacted(run: Path) -> dict[str, dict[str, Any]]:
    report = json.loads((run / "gate-report.json").read_text("utf-8"))
    red = report["redaction"]
    return load_redactions(run, report["redactions_sha256"], red["records"] if red else 0)


def test_default_and_drop_action_still_drop(make_run: RunFactory) -> None:
    for gates in ({"diversity": {"enabled": False}}, _gates("drop")):
        run = _en_run(make_run, gates, {3: [EN_PII, "Sure, I will call you back today."]})
        report = run_gates(run)
        assert report.passed
        assert "r000003" in report.exclude_record_ids  # dropped, not redacted
        assert any(r.startswith("pii:") for r in report.dropped_by_reason)
        assert report.redaction is None and report.redactions_sha256 is None
        assert "redacted_records" not in report.gate("pii").metrics
        assert not (run / REDACTIONS_FILE).exists()


@pytest.mark.parametrize("mode", ["placeholder", "synthetic"])
def test_english_record_is_kept_redacted(make_run: RunFactory, mode: str) -> None:
    reply = "Sure, I will call you back today."
    run = _en_run(
        make_run, _gates("redact", mode), {3: [EN_PII, reply], 8: [EN_HIDDEN_SSN, "Noted."]}
    )
    report = run_gates(run)
    assert report.passed, report.failed_blocking
    # Record 3 is kept, with its PII replaced; record 8 could not be cleaned: dropped.
    assert "r000003" not in report.exclude_record_ids
    assert "r000008" in report.exclude_record_ids
    assert report.dropped_by_reason.get("pii:email+ssn") == 1
    assert report.redaction is not None and report.redaction.mode == mode
    assert report.redaction.records == 1
    assert report.redaction.spans_by_type == {"email": 1, "person_name": 1, "phone": 1}
    pii = report.gate("pii")
    assert pii.metrics["redacted_records"] == 2 - 1  # record 8 was tried, then dropped
    assert pii.metrics["redactions_by_type"] == {"email": 1, "person_name": 1, "phone": 1}
    assert pii.metrics["dropped_records"] == 1 and pii.thresholds["action"] == "redact"

    redacted = _redacted(run)
    assert set(redacted) == {"r000003"}
    first, second = redacted["r000003"]["dialogue"]
    assert second == reply  # untouched text stays exactly as generated
    for original in EN_ORIGINALS:
        assert original not in first
    assert first.startswith("Hi, I spoke to ") and first.endswith(" please.")
    if mode == "placeholder":
        assert first == (
            "Hi, I spoke to [PERSON] yesterday about my kettle; call me on [PHONE] or "
            "mail [EMAIL] please."
        )
    else:
        assert "[" not in first
        assert "@example.com" in first and "555-01" in first
        # Deterministic: gating again gives the same fictional values.
        again = run_gates(run)
        assert again.redactions_sha256 == report.redactions_sha256
    # The report and the private detail never hold the original values.
    for path in (run / "gate-report.json", run / "private" / "gate-detail.json"):
        text = path.read_text("utf-8")
        # (Whole spans: a bare "2671" also matches digits of the report's own timestamps.)
        assert "jane.roe" not in text and "Thompson" not in text and "555-2671" not in text


def test_japanese_record_is_kept_redacted(make_run: RunFactory) -> None:
    run = make_run(_ja_records({5: JA_PII}), gates=_gates("redact"), locale="ja_JP")
    report = run_gates(run)
    assert report.passed, report.failed_blocking
    assert "r000005" not in report.exclude_record_ids
    assert report.redaction is not None
    assert report.redaction.spans_by_type == {"email": 1, "person_name": 1, "phone": 1}
    answer = _redacted(run)["r000005"]["answer"]
    # The name detector's span includes the honorific (山田太郎様).
    assert answer == "[PERSON]から、電話[PHONE]または[EMAIL]へ連絡してほしいとの依頼がありました。"
    for original in JA_ORIGINALS:
        assert original not in answer


def test_full_width_text_outside_the_span_is_kept() -> None:
    """Detection reads NFKC text; the redaction maps spans back to the original characters."""
    from synthspace.node.gates.redaction import _redact_piece

    text = "ＡＢＣ社の電話０３－１２３４－５６７８（平日）"
    norm_findings = find_pii([text], ["phone"], locale="ja_JP")
    assert len(norm_findings) == 1  # positive control: the full-width number is found
    f = norm_findings[0]
    new, _, inserted, _ = _redact_piece(text, [(f.start, f.end, f.type)], lambda k, o: "[PHONE]", 0)
    assert new == "ＡＢＣ社の電話[PHONE]（平日）"
    assert len(inserted) == 1


def test_synthetic_values_are_fictional_and_deterministic() -> None:
    for locale in ("en_US", "ja_JP"):
        for kind in ("email", "phone", "ssn", "ip_address", "payment_card", "iban"):
            values = {synthetic_value(kind, f"r{i}\0{0}", locale) for i in range(50)}
            assert len(values) > 1
            assert synthetic_value(kind, "r1\x000", locale) == synthetic_value(
                kind, "r1\x000", locale
            )
            # None is counted as real PII by the detectors (reserved or invalid by design).
            found = find_pii(sorted(values), [kind], locale=locale)
            assert all(f.reserved for f in found) or kind == "phone", (kind, found)
    assert synthetic_value("email", "x", "ja_JP").endswith("@example.jp")
    assert synthetic_value("phone", "x", "en_US").startswith("202-555-01")


def test_gate_records_json_marks_redacted_records(tmp_path: Path) -> None:
    import subprocess
    import sys

    import yaml

    from synthspace.node.examples import example_path

    recipe_doc = yaml.safe_load(example_path("en_support.yaml").read_text("utf-8"))
    recipe_doc["gates"] = {**(recipe_doc.get("gates") or {}), "pii": {"action": "redact"}}
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(recipe_doc, allow_unicode=True), encoding="utf-8")
    lines = list(GOOD_EN[:30])
    lines[4] = json.dumps({**json.loads(GOOD_EN[4]), "dialogue": [EN_PII, "Sure, will do."]})
    lines[9] = json.dumps({**json.loads(GOOD_EN[9]), "dialogue": [EN_HIDDEN_SSN, "Noted."]})
    records = tmp_path / "records.jsonl"
    records.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = subprocess.run(
        [sys.executable, "-m", "synthspace.cli.main", "gate", "--records", str(records)]
        + ["--recipe", str(recipe), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    by_index = {r["index"]: r for r in doc["records"]}
    assert by_index[4]["kept"] is True and by_index[4]["reasons"] == []
    assert by_index[4]["redacted"] == {"email": 1, "person_name": 1, "phone": 1}
    assert by_index[9]["kept"] is False and by_index[9]["reasons"] == ["pii:email+ssn"]
    assert "redacted" not in by_index[9] and "redacted" not in by_index[0]
    for original in EN_ORIGINALS[:2] + ("jane.roe@gmail.com",):
        assert original not in res.stdout


def test_redaction_file_is_bound_by_the_report(make_run: RunFactory) -> None:
    from synthspace.node.gates import GateReportError

    run = _en_run(make_run, _gates("redact"), {3: [EN_PII, "Sure, I will call you back."]})
    run_gates(run)
    path = run / REDACTIONS_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_text(path.read_text("utf-8").replace("[PHONE]", "(415) 555-2671"), "utf-8")
    with pytest.raises(GateReportError, match="digest"):
        _redacted(run)


def test_recipe_setting_is_strict() -> None:
    from synthspace.errors import ConfigError

    assert gates_config_from_mapping({}).pii.action == "drop"
    cfg = gates_config_from_mapping({"pii": {"action": "redact", "redaction": "synthetic"}})
    assert (cfg.pii.action, cfg.pii.redaction) == ("redact", "synthetic")
    for bad in ({"action": "mask"}, {"redaction": "hash"}, {"redact": True}):
        with pytest.raises(ConfigError):
            gates_config_from_mapping({"pii": bad})


def test_published_parquet_gets_the_redacted_text(make_run: RunFactory, tmp_path: Path) -> None:
    from synthspace.node.run_packaging import package_run_data

    run = _en_run(make_run, _gates("redact"), {3: [EN_PII, "Sure, I will call you back."]})
    report = run_gates(run)
    assert report.redaction is not None
    out = tmp_path / "data.parquet"
    package_run_data(run, out, report.exclude_record_ids, redacted=_redacted(run))
    df = pd.read_parquet(out)
    row = df[df["record_id"] == "r000003"].iloc[0]
    assert list(row["dialogue"])[0].count("[PHONE]") == 1
    text = " ".join(str(v) for v in df.astype(str).to_numpy().ravel())
    for original in EN_ORIGINALS[:2] + ("jane.roe@gmail.com",):
        assert original not in text
    # Positive control: without the redactions the original would have been shipped.
    plain = tmp_path / "plain.parquet"
    package_run_data(run, plain, report.exclude_record_ids)
    assert "jane.roe@gmail.com" in " ".join(
        str(v) for v in pd.read_parquet(plain).astype(str).to_numpy().ravel()
    )
