"""Publishing a run gated with `pii.action: redact`: the signed Parquet holds the redacted
text (never the original), the lineage records the counts, and the audit passes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tests.node.conftest import Coordinator, auditor_for, generate_run, make_node

PLANTED = (
    "Hi, I spoke to Michael Thompson yesterday; call me on (415) 555-2671 or mail "
    "jane.roe@gmail.com please."
)
ORIGINALS = ("Michael Thompson", "555-2671", "jane.roe@gmail.com")


def _plant(run_dir: Path, positions: tuple[int, ...]) -> list[str]:
    """Put PII into the first customer turn of some generated records; returns their ids."""
    shard = sorted((run_dir / "shards").glob("part-*.parquet"))[0]
    table = pq.read_table(shard)
    df = table.to_pandas()
    ids = []
    for p in positions:
        turns = list(df.at[p, "dialogue"])
        turns[0] = PLANTED
        df.at[p, "dialogue"] = turns
        ids.append(str(df.at[p, "record_id"]))
    pq.write_table(pa.Table.from_pandas(df, schema=table.schema, preserve_index=False), shard)
    return ids


def test_publish_ships_redacted_text_and_records_counts(
    tmp_path: Path, coordinator: Coordinator, fake_llm: Any
) -> None:
    from synthspace.node.publishing import publish_run

    home = make_node(tmp_path, coordinator, "redact")
    run = generate_run(tmp_path / "run", home, fake_llm, limit=12)
    ids = _plant(run, (1, 5))
    cfg = tmp_path / "gates.yaml"
    cfg.write_text("pii:\n  action: redact\n  redaction: placeholder\n", encoding="utf-8")

    res = publish_run(home, run, title="Redacted dialogues", gates_config=cfg)

    df = pd.read_parquet(res.data_path)
    assert set(ids) <= set(df["record_id"])  # kept, not dropped
    flat = " ".join(" ".join(map(str, d)) for d in df["dialogue"])
    for original in ORIGINALS:
        assert original not in flat
    redacted = df[df["record_id"].isin(ids)]
    for turns in redacted["dialogue"]:
        assert list(turns)[0] == (
            "Hi, I spoke to [PERSON] yesterday; call me on [PHONE] or mail [EMAIL] please."
        )
    # Positive control: the shards (node-local) still hold the original text.
    shards = pd.concat(pd.read_parquet(p) for p in sorted((run / "shards").glob("*.parquet")))
    assert "jane.roe@gmail.com" in " ".join(" ".join(map(str, d)) for d in shards["dialogue"])

    pred = res.statement.predicate
    assert pred.redaction is not None and pred.redaction.mode == "placeholder"
    assert pred.redaction.records == 2
    assert pred.redaction.spans_by_type == {"email": 2, "person_name": 2, "phone": 2}
    pii = next(g for g in pred.gates if g.name == "pii")
    assert pii.metrics["redacted_records"] == 2 and pii.metrics["records_with_pii"] == 2
    report = json.loads((run / "gate-report.json").read_text("utf-8"))
    assert report["redaction"] == pred.redaction.model_dump(mode="json")
    statement_text = res.statement.model_dump_json()
    for original in ORIGINALS:
        assert original not in statement_text

    audit = auditor_for(home).audit_artifact(res.artifact_id)
    assert audit.ok, audit.to_dict()
