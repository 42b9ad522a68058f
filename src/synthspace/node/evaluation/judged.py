"""Judged free-answer items: the model's greedy answer, scored 1-5 by an LLM judge.

The judge is the quality gates' judge (`node/quality/judge.py`: a rubric of named criteria,
structured verdicts, any backend: openai, vllm, transformers) with the evaluation rubric below:
it sees the question, the item's reference answer and the model's answer, and scores each
criterion 1-5 with a short rationale. An answer counts correct when every criterion scores at
least the item's `min_score` (declared in the benchmark) or, for items that declare none, the
evaluation's threshold (`--judge-min-score`, default 4). An unreadable verdict counts wrong;
a judge that cannot be asked (backend error) stops the evaluation (JudgeUnavailableError).

What the signed record names (`AnswerJudge.describe`): the backend, the judge model's id and
weights digest (None over an API), the rubric digest (sha256 of the canonical JSON of the
system prompt, task, criteria and default threshold: change any and the digest changes), the
threshold and the number of judged items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from synthspace.canonical_json import digest
from synthspace.errors import SynthspaceError
from synthspace.evaluation_results import judge_correct
from synthspace.node.evaluation.benchmark import JudgedItem
from synthspace.node.evaluation.scoring import ItemResult
from synthspace.node.generate.backends import get_backend
from synthspace.node.quality.judge import judge_with_rationale, prompt
from synthspace.node.recipes.gate_rules import JudgeConfig

if TYPE_CHECKING:
    from synthspace.node.generate.backends.base import Backend

DEFAULT_MIN_SCORE = 4
JUDGE_MAX_TOKENS = 384
TASK = (
    "Grade the model's answer to the question against the reference answer. The reference "
    "answer is correct; judge whether the model's answer says the same thing (wording may differ)."
)
CRITERIA = [
    {
        "name": "correctness",
        "description": "5: states the reference answer's facts and nothing that contradicts them; "
        "4: correct, with a minor omission or imprecision; 3: partly correct; 2: mostly wrong; "
        "1: wrong, contradicts the reference or does not answer",
    }
]


class JudgeUnavailableError(SynthspaceError):
    """The judge backend could not be built or asked (no endpoint, model, or a failed request)."""


def judge_config(
    backend: str, model: str | None = None, base_url: str | None = None
) -> JudgeConfig:
    """The evaluation judge: `backend`/`model`/`base_url` as the recipe's gates.judge spells them."""
    return JudgeConfig.model_validate(
        {
            "enabled": True,
            "backend": backend,
            "model": model,
            "base_url": base_url,
            "criteria": CRITERIA,
            "max_tokens": JUDGE_MAX_TOKENS,
        }
    )


@dataclass
class AnswerJudge:
    """Scores models' answers to judged items; one per evaluation (its backend is built once)."""

    config: JudgeConfig
    min_score: int = DEFAULT_MIN_SCORE
    backend: Backend | None = None
    _info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.min_score <= 5:
            raise SynthspaceError(f"--judge-min-score must be 1-5, got {self.min_score}")

    def _backend(self) -> Backend:
        if self.backend is None:
            try:
                self.backend = get_backend(
                    self.config.backend, model=self.config.model, base_url=self.config.base_url
                )
            except SynthspaceError as exc:
                raise JudgeUnavailableError(f"judge: {exc}") from None
        return self.backend

    def rubric_digest(self) -> str:
        system = prompt(self.config, TASK, {}, rationale=True)[0]["content"]
        return digest(
            {
                "system": system,
                "task": TASK,
                "criteria": [c.model_dump(mode="json") for c in self.config.criteria],
                "min_score": self.min_score,
            }
        )

    def describe(self, items: int) -> dict[str, Any]:
        """The judge as the summary and the signed `evaluation.judge` record name it."""
        info = self._backend().info()
        return {
            "backend": info.backend,
            "model_id": info.model_id,
            "model_digest": info.model_digest,
            "rubric_digest": self.rubric_digest(),
            "min_score": self.min_score,
            "items": items,
        }

    def threshold(self, item: JudgedItem) -> int:
        return item.min_score if item.min_score is not None else self.min_score

    def score(self, items: Sequence[JudgedItem], answers: Sequence[str]) -> list[ItemResult]:
        """One ItemResult per item: correct when every criterion meets the item's threshold."""
        records = [
            {"question": it.question, "reference_answer": it.answer, "answer": answer}
            for it, answer in zip(items, answers, strict=True)
        ]
        verdicts = judge_with_rationale(self.config, TASK, records, self._backend())
        results = []
        for item, answer, verdict in zip(items, answers, verdicts, strict=True):
            if verdict.error is not None:
                raise JudgeUnavailableError(f"judge failed on item {item.id}: {verdict.error}")
            judged = {
                "scores": verdict.scores,
                "rationale": verdict.rationale,
                "min_score": self.threshold(item),
            }
            # The one rule: the coordinator and the auditor recount results with it.
            correct = judge_correct(judged) is True
            results.append(ItemResult(item.id, "judged", correct, answer, item.answer, judge=judged))
        return results

