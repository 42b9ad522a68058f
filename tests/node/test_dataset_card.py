"""Dataset cards in pulled artifact folders (issue 16 #6): README.md with Hugging Face YAML front
matter, written from the verified Statement only, whose `configs` load the pulled Parquet data
with `datasets` offline."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from synthspace.lineage import (
    GateResult,
    Generator,
    LineagePredicate,
    PersonaSource,
    Producer,
    SeedCommitment,
    Statement,
    Subject,
    Times,
)
from synthspace.node.dataset_card import dataset_card, front_matter
from synthspace.policy import share_policy
from tests.node.conftest import Space, auditor_for

MARKER = "metric-value-7f3a9c"  # only in a gate metric: the card must not copy metrics


def statement(**overrides: Any) -> Statement:
    now = datetime.now(UTC)
    fields: dict[str, Any] = dict(
        kind="dataset",
        title="Japanese legal QA: contracts",
        description="Synthetic question/answer pairs.",
        license="CC-BY-4.0",
        tags=["legal", "synthetic"],
        task="ja_legal_qa",
        locale="ja_JP",
        record_count=1234,
        producer=Producer(org="alpha", artifact_key_id="ab" * 32, software="synthspace 0.2"),
        generator=Generator(backend="transformers", model_id="SmolLM2-135M-Instruct"),
        persona_source=PersonaSource(kind="spec", locale="ja_JP", count=500),
        seed_commitment=SeedCommitment(root="cd" * 32, count=450),
        gates=[
            GateResult(name="pii", blocking=True, passed=True, metrics={"note": MARKER}),
            GateResult(name="diversity", blocking=False, passed=True),
        ],
        times=Times(started=now, finished=now, signed=now),
        policy=share_policy(["beta"], ["use", "train"]),
    )
    fields.update(overrides)
    digest = {"sha256": hashlib.sha256(b"x").hexdigest()}
    return Statement(
        subject=[Subject(name="data.parquet", digest=digest)],  # type: ignore[arg-type]
        predicate=LineagePredicate(**fields),
    )


def parse_card(text: str) -> tuple[dict[str, Any], str]:
    assert text.startswith("---\n")
    head, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(head), body


def test_front_matter_follows_hugging_face_card_conventions() -> None:
    st = statement()
    meta, body = parse_card(dataset_card(st, "ef" * 32))
    assert meta == front_matter(st)
    assert meta["license"] == "cc-by-4.0"
    assert meta["language"] == ["ja"]
    assert meta["task_categories"] == ["question-answering"]
    assert meta["size_categories"] == ["1K<n<10K"]
    assert meta["tags"] == ["synthetic", "synthspace", "legal"]
    assert meta["pretty_name"] == "Japanese legal QA: contracts"
    assert meta["configs"] == [
        {"config_name": "default", "data_files": [{"split": "train", "path": "data.parquet"}]}
    ]
    assert "SmolLM2-135M-Instruct" in body and "pii: passed" in body
    assert "diversity: passed (advisory)" in body
    assert "use permitted for beta" in body and "redistribute prohibited" in body
    assert "450 examples, not released" in body


def test_unknown_licence_and_task_are_declared_not_guessed() -> None:
    meta = front_matter(
        statement(license="LicenseRef-acme-internal", task="kettle_support", locale=None)
    )
    assert meta["license"] == "other"
    assert meta["license_name"] == "licenseref-acme-internal"
    assert "task_categories" not in meta and "language" not in meta


def test_card_holds_only_public_statement_fields() -> None:
    st = statement()
    card = dataset_card(st, "ef" * 32)
    assert MARKER in st.to_json_bytes().decode()  # positive control: the Statement has it
    assert MARKER not in card  # gate metrics are not copied
    # everything the card says about the data is in the signed Statement
    meta, _ = parse_card(card)
    public = st.to_json_bytes().decode()
    for value in (
        meta["pretty_name"],
        *meta["tags"][2:],
        meta["configs"][0]["data_files"][0]["path"],
    ):
        assert value in public


_LOAD = """
import json, sys
from datasets import load_dataset
import yaml
folder = sys.argv[1]
text = open(folder + "/README.md", encoding="utf-8").read()
meta = yaml.safe_load(text[4:].split("\\n---\\n", 1)[0])
files = meta["configs"][0]["data_files"][0]["path"]
paths = [folder + "/" + f for f in ([files] if isinstance(files, str) else files)]
by_files = load_dataset("parquet", data_files=paths, split="train")
by_folder = load_dataset(folder, split="train")
print(json.dumps({"files": by_files.num_rows, "folder": by_folder.num_rows,
                  "columns": by_files.column_names}))
"""


@pytest.mark.slow
def test_pulled_folder_has_a_card_and_loads_with_datasets_offline(
    space: Space, tmp_path: Path
) -> None:
    from synthspace.node.catalog import pull

    out = tmp_path / "pulled"
    pull(auditor_for(space.beta), space.published.artifact_id, out, purpose="research")
    text = (out / "README.md").read_text(encoding="utf-8")
    meta, body = parse_card(text)
    st = space.published.statement
    assert meta["pretty_name"] == "Kettle support dialogues"
    assert meta["license"] == st.predicate.license.lower()
    assert {"synthetic", "support", "demo"} <= set(meta["tags"])
    assert space.published.artifact_id in body
    assert json.loads((out / "statement.json").read_text())["predicate"]["title"] in text
    env = {
        **os.environ,
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),  # an empty cache: nothing can come from a download
    }
    proc = subprocess.run(
        [sys.executable, "-c", _LOAD, str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    rows = st.predicate.record_count
    assert rows and loaded["files"] == rows == loaded["folder"]
    assert "dialogue" in loaded["columns"]
    # pulling again into the same folder keeps one card, and the bundle still audits
    pull(auditor_for(space.beta), space.published.artifact_id, out, purpose="research")
    assert (out / "README.md").read_text(encoding="utf-8") == text
    assert auditor_for(space.beta).audit_bundle(out).ok
