"""A Hugging Face dataset card (README.md with YAML front matter) for a pulled artifact folder.

The card is written from the verified Statement alone (`statement.json` of the bundle): only
what the publisher signed and the catalog already shows (title, description, licence, locale,
tags, task, generator, persona source, seed *count*, gate names and outcomes, usage policy).
It never reads the data, a seed, or a gate metric. Its `configs` point `datasets` at the
bundle's Parquet file(s), so `load_dataset("parquet", data_files=...)` or
`load_dataset("<folder>")` load the pulled data offline.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import yaml

from synthspace.artifact import artifact_id as envelope_artifact_id
from synthspace.atomic_files import atomic_write_text
from synthspace.lineage import Statement

CARD_FILE: Final = "README.md"

# SPDX ids Hugging Face knows under its own (lowercase) license ids.
_HF_LICENSES: Final = frozenset(
    {
        "apache-2.0", "mit", "cc0-1.0", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0",
        "cc-by-nc-sa-4.0", "cc-by-nd-4.0", "cc-by-nc-nd-4.0", "cc-by-3.0", "cc-by-sa-3.0",
        "odc-by", "odbl", "pddl", "gpl-3.0", "lgpl-3.0", "bsd-3-clause", "bsd-2-clause",
        "openrail", "llama3", "unknown",
    }
)  # fmt: skip

# Recipe task words -> Hugging Face task categories (only when the task name says so).
_TASK_CATEGORIES: Final = (
    (("qa", "question"), "question-answering"),
    (("dialogue", "dialog", "chat", "conversation"), "text-generation"),
    (("summar",), "summarization"),
    (("classif", "sentiment"), "text-classification"),
    (("translat",), "translation"),
)


def _size_category(n: int | None) -> str | None:
    if n is None:
        return None
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return label
    return "100K<n<1M" if n < 1_000_000 else "1M<n<10M" if n < 10_000_000 else "n>10M"


def _task_categories(task: str | None) -> list[str]:
    words = (task or "").lower()
    return [cat for keys, cat in _TASK_CATEGORIES if any(k in words for k in keys)]


def front_matter(statement: Statement) -> dict[str, Any]:
    """The card's YAML metadata (Hugging Face dataset card fields) from the Statement."""
    pred = statement.predicate
    meta: dict[str, Any] = {}
    spdx = pred.license.lower()
    if spdx in _HF_LICENSES:
        meta["license"] = spdx
    else:
        meta["license"] = "other"
        meta["license_name"] = spdx
        meta["license_link"] = f"https://spdx.org/licenses/{pred.license}"
    if pred.locale:
        meta["language"] = [pred.locale.replace("-", "_").split("_")[0].lower()]
    categories = _task_categories(pred.task)
    if categories:
        meta["task_categories"] = categories
    size = _size_category(pred.record_count)
    if size:
        meta["size_categories"] = [size]
    tags = ["synthetic", "synthspace"] + [
        t for t in pred.tags if t not in ("synthetic", "synthspace")
    ]
    meta["tags"] = tags
    meta["pretty_name"] = pred.title
    files = [s.name for s in statement.subject if s.name.endswith(".parquet")]
    meta["configs"] = [
        {
            "config_name": "default",
            "data_files": [{"split": "train", "path": files if len(files) > 1 else files[0]}],
        }
    ]
    return meta


def _policy_lines(statement: Statement) -> list[str]:
    policy = statement.predicate.effective_policy()
    lines = []
    for kind, rules in (("permitted", policy.permission), ("prohibited", policy.prohibition)):
        for rule in rules:
            terms = "; ".join(
                f"{c.leftOperand} {c.operator} {json.dumps(c.rightOperand, default=str)}"
                for c in rule.constraint
            )
            lines.append(
                f"- {rule.action} {kind} for {', '.join(rule.assignee)}"
                + (f" ({terms})" if terms else "")
            )
    return lines


def dataset_card(statement: Statement, artifact_id: str) -> str:
    """README.md text: YAML front matter, then the provenance in prose (public fields only)."""
    pred = statement.predicate
    meta = yaml.safe_dump(front_matter(statement), sort_keys=False, allow_unicode=True)
    files = [s.name for s in statement.subject if s.name.endswith(".parquet")]
    out = ["---", meta.rstrip("\n"), "---", "", f"# {pred.title}", ""]
    if pred.description:
        out += [pred.description, ""]
    out += [
        "Synthetic data from a synthspace data space, verified on pull (publisher signature, "
        "data digest, transparency-log inclusion, gates).",
        "",
        "## Provenance",
        "",
        f"- artifact id: `{artifact_id}`",
        f"- publisher: {pred.producer.org}",
        f"- kind: {pred.kind}",
    ]
    out += [f"- file: `{s.name}` (sha256 `{s.digest.sha256}`)" for s in statement.subject]
    if pred.record_count is not None:
        out.append(f"- records: {pred.record_count}")
    if pred.generator is not None:
        out.append(f"- generator: {pred.generator.model_id} ({pred.generator.backend} backend)")
    if pred.persona_source is not None and pred.persona_source.kind != "none":
        where = f", {pred.persona_source.locale}" if pred.persona_source.locale else ""
        out.append(f"- personas: {pred.persona_source.count} ({pred.persona_source.kind}{where})")
    if pred.seed_commitment is not None:
        out.append(
            f"- private seeds: {pred.seed_commitment.count} examples, not released "
            f"(committed by root `{pred.seed_commitment.root}`)"
        )
    if pred.parents:
        out += [f"- parent ({p.role}): `{p.artifact_id}`" for p in pred.parents]
    if pred.gates:
        out += ["", "## Gates", ""]
        out += [
            f"- {g.name}: {'passed' if g.passed else 'did not pass'}"
            + ("" if g.blocking else " (advisory)")
            for g in pred.gates
        ]
    out += ["", "## Terms of use (signed usage policy)", "", *_policy_lines(statement)]
    data_files = files if len(files) > 1 else (files[0] if files else "")
    out += [
        "",
        "## Loading",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        f'ds = load_dataset("parquet", data_files={data_files!r}, split="train")',
        "```",
        "",
    ]
    return "\n".join(out)


def write_dataset_card(bundle_dir: Path | str) -> Path | None:
    """Write README.md into a pulled bundle from its statement.json; None when the artifact
    has no Parquet data (a model adapter)."""
    bundle = Path(bundle_dir)
    statement = Statement.model_validate_json((bundle / "statement.json").read_bytes())
    if not any(s.name.endswith(".parquet") for s in statement.subject):
        return None
    aid = envelope_artifact_id((bundle / "envelope.json").read_bytes())
    path = bundle / CARD_FILE
    atomic_write_text(path, dataset_card(statement, aid))
    return path
