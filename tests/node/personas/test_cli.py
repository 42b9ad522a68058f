"""`synthspace personas sample|describe|stats` end to end through the real CLI entry."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from synthspace.cli.main import app, main
from synthspace.node.personas import load_persona_set

runner = CliRunner()


def test_sample_then_stats(tmp_path) -> None:
    out = tmp_path / "p.parquet"
    res = runner.invoke(
        app,
        ["personas", "sample", "--locale", "ja_JP", "-n", "3000", "--seed", "5", "--out", str(out),
         "--where", "prefecture=東京都", "--where", "age_band=30-39"],
    )
    assert res.exit_code == 0, res.output
    assert "wrote 3,000 personas" in res.output and "set_digest  sha256:" in res.output
    personas, source = load_persona_set(out)
    assert source.count == 3000 and all(p.prefecture == "東京都" and 30 <= (p.age or 0) <= 39 for p in personas)
    assert source.set_digest in res.output
    res = runner.invoke(app, ["personas", "stats", str(out), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["spec_matches"] and report["where"] == ["prefecture=東京都", "age_band=30-39"]
    assert all(v["p_value"] > 1e-4 for v in report["variables"])
    res = runner.invoke(app, ["personas", "stats", str(out)])
    assert res.exit_code == 0 and "occupation_group" in res.output


def test_describe_lists_variables_and_sources() -> None:
    res = runner.invoke(app, ["personas", "describe", "--locale", "ja_JP", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert [v["name"] for v in summary["variables"]][:2] == ["region", "prefecture"]
    assert "census2020_population" in summary["sources"]
    res = runner.invoke(app, ["personas", "describe", "--locale", "en_US"])
    assert res.exit_code == 0 and "American Community Survey" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sample", "-n", "10", "--out", "{tmp}/x.parquet", "--where", "prefecture=東京"], "no state '東京'"),
        (["sample", "-n", "10", "--out", "{tmp}/x.parquet", "--locale", "xx_XX"], "no spec for locale"),
        (["sample", "-n", "10", "--out", "{tmp}/x.parquet", "--narratives", "poem"], "unknown narrative mode"),
        (["stats", "{tmp}/missing.parquet"], "does not exist"),
    ],
)
def test_bad_input_is_one_error_line_and_non_zero_exit(tmp_path, capsys, args, message) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["personas", *[a.replace("{tmp}", str(tmp_path)) for a in args]])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
