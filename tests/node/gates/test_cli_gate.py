"""`synthspace gate` as a user runs it: a real process, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gates_helpers import RunFactory, clean_corpus, make_seeds


def gate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "synthspace.cli.main", "gate", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_pass_fail_and_bad_input(make_run: RunFactory, tmp_path: Path) -> None:
    ok_run = make_run(clean_corpus(200))
    ok = gate(str(ok_run))
    assert ok.returncode == 0, ok.stderr
    assert "seed_leakage" in ok.stdout and "all blocking gates passed" in ok.stdout
    assert json.loads((ok_run / "gate-report.json").read_text(encoding="utf-8"))["passed"] is True

    seeds = make_seeds(40)
    records = clean_corpus(200)
    records[7] = "回答:" + seeds[1]["answer"][:70]
    bad_run = make_run(records, seeds=seeds)  # all-or-nothing (LEGACY_GATES): the leak fails it
    bad = gate(str(bad_run))
    assert bad.returncode == 1
    last = bad.stderr.strip().splitlines()[-1]
    assert last.startswith("error: blocking gate(s) failed: seed_leakage")
    assert "Traceback" not in bad.stderr
    assert json.loads((bad_run / "gate-report.json").read_text(encoding="utf-8"))["passed"] is False

    # A config that tolerates one failing record lets the same run pass.
    cfg = tmp_path / "gates.yaml"
    cfg.write_text(
        "leakage:\n  max_failing_records: 1\nfiltering:\n  drop_records: false\n"
        "usefulness:\n  enabled: false\ndiversity:\n  enabled: false\n",
        encoding="utf-8",
    )
    assert gate(str(bad_run), "--config", str(cfg)).returncode == 0

    missing = gate(str(tmp_path / "no-such-run"))
    assert missing.returncode == 1 and missing.stderr.strip().startswith("error: run directory")
    cfg.write_text("leakage:\n  ngram: 5\n", encoding="utf-8")
    typo = gate(str(ok_run), "--config", str(cfg))
    assert (
        typo.returncode == 1 and "leakage.ngram" in typo.stderr and "Traceback" not in typo.stderr
    )


def test_gate_records_json_contract_and_exit_codes(tmp_path: Path) -> None:
    """`gate --records FILE --recipe R --json`: one JSON object, index = 0-based line, exit
    0 pass / 1 refused / 2 bad input with a one-line error."""
    from synthspace.node.examples import example_path

    recipe = str(example_path("en_support.yaml"))
    data = Path(__file__).parent / "data"
    good = data.joinpath("good_en.jsonl").read_text(encoding="utf-8").splitlines()
    lines = list(good[:30])
    lines[4] = json.dumps(
        {**json.loads(good[4]), "dialogue": ["Call me on 090-1234-5678 please.", "Sure, will do."]}
    )
    lines[9] = json.dumps({**json.loads(good[9]), "dialogue": ["{{ 1 }} {{ 2 }}", "{{ 1 }}"]})
    records = tmp_path / "records.jsonl"
    records.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ok = gate("--records", str(records), "--recipe", recipe, "--json")
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)
    assert set(doc) == {"records", "gates", "passed"} and doc["passed"] is True
    assert [r["index"] for r in doc["records"]] == list(range(30))
    dropped = {r["index"]: r["reasons"] for r in doc["records"] if not r["kept"]}
    assert set(dropped) == {4, 9}
    assert any("pii" in reason for reason in dropped[4])
    assert all(r["reasons"] == [] for r in doc["records"] if r["kept"])
    assert {"name", "passed"} <= set(doc["gates"][0]) and any(
        g["name"] == "usefulness" for g in doc["gates"]
    )

    # Mostly junk: below min_kept, refused with exit 1 (JSON still printed).
    junk = tmp_path / "junk.parquet"
    import pandas as pd

    rows = [json.loads(ln) for ln in good[:4]] + [
        {**json.loads(good[0]), "dialogue": [f"{{{{ x{i} }}}}", f"{i:064d}"]} for i in range(12)
    ]
    pd.DataFrame(rows).to_parquet(junk)
    refused = gate("--records", str(junk), "--recipe", recipe, "--json")
    assert refused.returncode == 1 and json.loads(refused.stdout)["passed"] is False
    assert "record_filter" in refused.stderr and "Traceback" not in refused.stderr

    # Bad input: exit 2 and one clear line.
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"dialogue": ["hi"]}\nnot json\n', encoding="utf-8")
    for args in (
        ("--records", str(bad), "--recipe", recipe, "--json"),
        ("--records", str(tmp_path / "missing.jsonl"), "--recipe", recipe),
        ("--records", str(records)),
        ("--records", str(records), "--recipe", str(tmp_path / "no-recipe.yaml")),
    ):
        res = gate(*args)
        assert res.returncode == 2, (args, res.stderr)
        assert res.stdout == "" and len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert res.stderr.startswith("error: ") and "Traceback" not in res.stderr
