"""`synthspace eval` refuses bad input with one clear line before loading any model."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from synthspace.cli.main import app


def test_bad_benchmark_exits_2_with_the_line(tmp_path: Path) -> None:
    bench = tmp_path / "b.jsonl"
    bench.write_text(
        '{"id": "a", "kind": "choice", "question": "q", "options": ["x"], "answer": 0}\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        app, ["eval", "--benchmark", str(bench), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert "b.jsonl:1: invalid item" in result.output


def test_compare_base_needs_an_adapter(tmp_path: Path) -> None:
    bench = tmp_path / "b.jsonl"
    bench.write_text(
        '{"id": "a", "kind": "exact", "question": "q", "answer": "x"}\n', encoding="utf-8"
    )
    result = CliRunner().invoke(app, ["eval", "--benchmark", str(bench), "--compare-base"])
    assert result.exit_code == 1
    assert "--compare-base needs --adapter" in result.output


def test_missing_adapter_files_are_refused(tmp_path: Path) -> None:
    bench = tmp_path / "b.jsonl"
    bench.write_text(
        '{"id": "a", "kind": "exact", "question": "q", "answer": "x"}\n', encoding="utf-8"
    )
    (tmp_path / "ad").mkdir()
    result = CliRunner().invoke(
        app, ["eval", "--benchmark", str(bench), "--adapter", str(tmp_path / "ad")]
    )
    assert result.exit_code == 2
    assert "adapter.safetensors not found" in result.output
