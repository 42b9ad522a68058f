"""LLM-as-judge: score records on a recipe's rubric (named criteria, 1-5) with any backend.

The verdict is structured output: the backend is constrained to a JSON schema with one
integer 1-5 per criterion. A record scoring below a criterion's `min_score`, or whose verdict
cannot be read, is dropped (`judge:<criterion>`, `judge:unreadable`).

`judge_with_rationale` is the same call for `synthspace eval`'s judged items: the schema adds
a short `rationale` string, and a backend error is reported as such (not as an unreadable
verdict), so an evaluation can stop instead of counting an unreachable judge as wrong answers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from synthspace.node.generate.backends import get_backend
from synthspace.node.generate.backends.base import Backend, GenerationRequest, GeneratorInfo
from synthspace.node.recipes.gate_rules import JudgeConfig

_SYSTEM = (
    "You are a strict data-quality judge. Score the record on each criterion from 1 (worst) "
    "to 5 (best). Answer with JSON only."
)


@dataclass
class Verdicts:
    scores: list[dict[str, int] | None]  # per record; None = not judged or unreadable
    reasons: list[list[str]]
    info: GeneratorInfo


RATIONALE_CHARS = 1000
_RATIONALE = (
    " Also give a `rationale`: one or two sentences on why, naming what is right or wrong."
)


def verdict_schema(cfg: JudgeConfig, *, rationale: bool = False) -> dict[str, Any]:
    properties: dict[str, Any] = {
        c.name: {"type": "integer", "minimum": 1, "maximum": 5} for c in cfg.criteria
    }
    if rationale:
        properties["rationale"] = {"type": "string", "maxLength": RATIONALE_CHARS}
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def prompt(
    cfg: JudgeConfig, task: str, record: dict[str, Any], *, rationale: bool = False
) -> list[dict[str, str]]:
    rubric = "\n".join(f"- {c.name}: {c.description}" for c in cfg.criteria)
    body = json.dumps(record, ensure_ascii=False, default=str)
    user = f"Task: {task}\nCriteria:\n{rubric}\n\nRecord:\n{body}\n\nScores as JSON:"
    system = _SYSTEM + (_RATIONALE if rationale else "")
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _parse(cfg: JudgeConfig, text: str) -> dict[str, int] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    out: dict[str, int] = {}
    for c in cfg.criteria:
        v = data.get(c.name)
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 5:
            return None
        out[c.name] = v
    return out


def judge_records(
    cfg: JudgeConfig,
    task: str,
    records: Sequence[dict[str, Any] | None],
    backend: Backend | None = None,
) -> Verdicts:
    """Score every record that is not None (None = already dropped, not judged)."""
    be = backend or get_backend(cfg.backend, model=cfg.model, base_url=cfg.base_url)
    todo = [i for i, r in enumerate(records) if r is not None]
    requests = [
        GenerationRequest(
            key=f"judge-{i}",
            messages=prompt(cfg, task, records[i] or {}),
            temperature=0.0,
            top_p=1.0,
            max_tokens=cfg.max_tokens,
            seed=0,
        )
        for i in todo
    ]
    completions = be.generate(requests, verdict_schema(cfg)) if requests else []
    scores: list[dict[str, int] | None] = [None] * len(records)
    reasons: list[list[str]] = [[] for _ in records]
    for i, done in zip(todo, completions, strict=True):
        got = _parse(cfg, done.text) if done.error is None else None
        scores[i] = got
        if got is None:
            reasons[i] = ["judge:unreadable"]
        else:
            reasons[i] = [f"judge:{c.name}" for c in cfg.criteria if got[c.name] < c.min_score]
    return Verdicts(scores=scores, reasons=reasons, info=be.info())


@dataclass
class Verdict:
    """One judged record: scores per criterion and the judge's rationale (None: unreadable),
    or the backend's error (the judge could not be asked)."""

    scores: dict[str, int] | None
    rationale: str | None
    error: str | None = None


def _rationale(text: str) -> str | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    got = data.get("rationale") if isinstance(data, dict) else None
    return got[:RATIONALE_CHARS] if isinstance(got, str) else None


def judge_with_rationale(
    cfg: JudgeConfig, task: str, records: Sequence[dict[str, Any]], backend: Backend
) -> list[Verdict]:
    """Score every record on the rubric and ask for a rationale; one Verdict per record."""
    requests = [
        GenerationRequest(
            key=f"judge-{i}",
            messages=prompt(cfg, task, record, rationale=True),
            temperature=0.0,
            top_p=1.0,
            max_tokens=cfg.max_tokens,
            seed=0,
        )
        for i, record in enumerate(records)
    ]
    completions = backend.generate(requests, verdict_schema(cfg, rationale=True)) if requests else []
    out = []
    for done in completions:
        if done.error is not None:
            out.append(Verdict(None, None, error=str(done.error)))
            continue
        scores = _parse(cfg, done.text)
        out.append(Verdict(scores, _rationale(done.text) if scores is not None else None))
    return out
