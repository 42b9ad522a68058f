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
