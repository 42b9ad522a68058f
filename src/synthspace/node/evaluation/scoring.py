"""Run a benchmark against a model: batched option log-likelihoods, greedy exact match, accuracy + CI.

Multiple choice: the question is put in the model's chat template as the user turn, each option
is the assistant's reply; the option with the highest summed token log-probability wins. The
prompt is encoded once per item (a group of items per forward pass) and its cached keys/values
are shared by the item's options, which run in one padded batch (at most `batch_size` option
sequences per group).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthspace.node.evaluation.benchmark import (
    AnyItem,
    BenchmarkError,
    ChoiceItem,
    ExactItem,
    JudgedItem,
)
from synthspace.node.evaluation.stats import wilson_interval
from synthspace.node.federated.lora import LoraSettings, _normalise, attach_lora, load_adapter_state

if TYPE_CHECKING:
    from synthspace.node.evaluation.judged import AnswerJudge

ADAPTER_FILE = "adapter.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
MAX_SEQ_TOKENS = 512
JUDGED_MAX_NEW_TOKENS = 128

Progress = Callable[[int], None]


@dataclass
class ItemResult:
    id: str
    kind: str
    correct: bool
    predicted: str
    expected: str
    scores: list[float] = field(default_factory=list)
    judge: dict[str, Any] | None = None  # judged items: {scores, rationale, min_score}

    def as_dict(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "kind": self.kind,
            "correct": self.correct,
            "predicted": self.predicted,
            "expected": self.expected,
            "scores": [round(s, 4) for s in self.scores],
        }
        if self.judge is not None:
            out["judge"] = self.judge
        return out


@dataclass
class EvalResult:
    label: str
    items: list[ItemResult]
    seconds: float

    @property
    def correct(self) -> int:
        return sum(r.correct for r in self.items)

    def metrics(self) -> dict[str, Any]:
        n = len(self.items)
        low, high = wilson_interval(self.correct, n)
        return {
            "items": n,
            "correct": self.correct,
            "accuracy": self.correct / n if n else 0.0,
            "ci95": [low, high],
            "seconds": round(self.seconds, 3),
            "items_per_second": round(n / self.seconds, 3) if self.seconds > 0 else None,
        }


def adapter_paths(path: Path) -> tuple[Path, Path]:
    """(adapter.safetensors, adapter_config.json) of an adapter folder or of its safetensors file."""
    weights = path / ADAPTER_FILE if path.is_dir() else path
    config = weights.parent / ADAPTER_CONFIG
    if not weights.is_file():
        raise BenchmarkError(f"adapter {path}: {weights.name} not found")
    if not config.is_file():
        raise BenchmarkError(f"adapter {path}: {ADAPTER_CONFIG} not found beside {weights.name}")
    return weights, config


def apply_adapter(model: Any, path: Path) -> Any:
    """Wrap `model` with the LoRA adapter stored at `path` (folder or safetensors file)."""
    from safetensors.torch import load_file

    weights, config_path = adapter_paths(path)
    try:
        cfg = json.loads(config_path.read_text(encoding="utf-8"))
        settings = LoraSettings(
            rank=int(cfg["r"]),
            alpha=int(cfg["lora_alpha"]),
            targets=tuple(sorted(cfg["target_modules"])),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise BenchmarkError(f"adapter config {config_path} is not a LoRA config ({exc})") from None
    peft_model = attach_lora(model, settings)
    load_adapter_state(peft_model, load_file(str(weights)))
    peft_model.eval()
    return peft_model


def _prompt_ids(tokenizer: Any, question: str) -> list[int]:
    if tokenizer.chat_template:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
        )
    else:
        text = question + "\n"
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _option_ids(tokenizer: Any, option: str) -> list[int]:
    return list(tokenizer(option, add_special_tokens=False)["input_ids"]) or [
        tokenizer.eos_token_id
    ]


def _score_group_shared_prefix(
    model: Any, prompts: list[list[int]], options: list[list[list[int]]], *, pad: int
) -> list[list[float]]:
    """Summed option log-probabilities for a group of items, each prompt encoded once.

    Pass 1 runs the group's prompts left-padded (explicit position ids, so every real token sits
    where it would alone) and keeps only the last position's logits: they score each option's
    first token. Pass 2 runs every option of every item right-padded on top of its own prompt's
    cached keys/values (the cache rows are repeated per option). Masked padding gets no attention
    weight, so each option's log-probability equals scoring its whole sequence alone, up to float
    rounding (`tests/node/evaluation/test_scoring_shared_prefix.py` compares the two), at a fraction of
    the work: the prompt (chat template + question) is most of every sequence.
    """
    import torch

    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for r, p in enumerate(prompts):
        ids[r, width - len(p) :] = torch.tensor(p)
        mask[r, width - len(p) :] = 1
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    out = model(
        input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1
    )
    first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)
    rows = [(r, opt) for r, opts in enumerate(options) for opt in opts]
    scores: list[list[float]] = [[] for _ in prompts]
    owidth = max(len(opt) for _, opt in rows)
    if owidth == 1:  # one-token options: the prompt pass scored them all
        for r, opt in rows:
            scores[r].append(float(first[r, opt[0]]))
        return scores
    cache = out.cache
    cache.batch_select_indices(torch.tensor([r for r, _ in rows]))
    oids = torch.full((len(rows), owidth), pad, dtype=torch.long)
    omask = torch.zeros((len(rows), width + owidth), dtype=torch.long)
    opos = torch.zeros((len(rows), owidth), dtype=torch.long)
    for k, (r, opt) in enumerate(rows):
        oids[k, : len(opt)] = torch.tensor(opt)
        omask[k, :width] = mask[r]
        omask[k, width : width + len(opt)] = 1
        opos[k] = len(prompts[r]) + torch.arange(owidth)
    logits = model(
        input_ids=oids, attention_mask=omask, position_ids=opos, cache=cache, use_cache=True
    ).logits
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    for k, (r, opt) in enumerate(rows):
        lp = first[r, opt[0]]
        if len(opt) > 1:
            targets = torch.tensor(opt[1:]).unsqueeze(1)
            lp = lp + logprobs[k, : len(opt) - 1].gather(1, targets).sum()
        scores[r].append(float(lp))
    return scores


def _score_full_sequences(
    model: Any, seqs: list[tuple[list[int], int]], *, pad: int, batch_size: int
) -> list[float]:
    """Summed log-probability of tokens[start:] for each (tokens, start): whole sequences, padded."""
    import torch

    scores: list[float] = []
    for b in range(0, len(seqs), batch_size):
        chunk = seqs[b : b + batch_size]
        width = max(len(s[0]) for s in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, (toks, _) in enumerate(chunk):
            ids[r, : len(toks)] = torch.tensor(toks)
            mask[r, : len(toks)] = 1
        logprobs = torch.log_softmax(
            model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1
        )
        for r, (toks, start) in enumerate(chunk):
            targets = torch.tensor(toks[start:])
            lp = logprobs[r, start - 1 : len(toks) - 1].gather(1, targets.unsqueeze(1)).sum()
            scores.append(float(lp))
    return scores


def score_choices(
    model: Any,
    tokenizer: Any,
    items: list[ChoiceItem],
    *,
    batch_size: int,
    progress: Progress | None = None,
) -> list[ItemResult]:
    """Summed log-probability of each option's tokens after the prompt.

    Items go in groups of at most `batch_size` option sequences (at least one item); a group's
    prompts are encoded once and shared by their options (`_score_group_shared_prefix`). An item
    whose prompt plus longest option exceeds MAX_SEQ_TOKENS is scored as whole sequences
    truncated from the left (the prompt loses its oldest tokens).
    """
    import torch

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    model.eval()
    scores: list[list[float]] = []
    with torch.inference_mode():
        group: list[tuple[list[int], list[list[int]]]] = []

        def flush() -> None:
            if group:
                scores.extend(
                    _score_group_shared_prefix(
                        model, [g[0] for g in group], [g[1] for g in group], pad=pad
                    )
                )
                if progress is not None:
                    progress(len(group))
                group.clear()

        for item in items:
            prompt = _prompt_ids(tokenizer, item.question)
            options = [_option_ids(tokenizer, o) for o in item.options]
            if len(prompt) + max(len(o) for o in options) > MAX_SEQ_TOKENS:
                flush()
                seqs = []
                for opt in options:
                    seq = (prompt + opt)[-MAX_SEQ_TOKENS:]
                    seqs.append((seq, max(1, len(seq) - len(opt))))
                scores.append(_score_full_sequences(model, seqs, pad=pad, batch_size=batch_size))
                if progress is not None:
                    progress(1)
                continue
            if group and sum(len(g[1]) for g in group) + len(options) > batch_size:
                flush()
            group.append((prompt, options))
        flush()
    results = []
    for item, s in zip(items, scores, strict=True):
        best = max(range(len(s)), key=lambda k: s[k])
        results.append(
            ItemResult(
                item.id,
                "choice",
                best == item.answer,
                item.options[best],
                item.options[item.answer],
                s,
            )
        )
    return results


def greedy_answer(model: Any, tokenizer: Any, question: str, *, max_new_tokens: int) -> str:
    """The model's greedy reply to `question` as the user turn, stripped."""
    import torch

    ids = torch.tensor([_prompt_ids(tokenizer, question)])
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
    return str(tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)).strip()


def score_judged(
    model: Any,
    tokenizer: Any,
    items: list[JudgedItem],
    judge: AnswerJudge,
    *,
    max_new_tokens: int = JUDGED_MAX_NEW_TOKENS,
    progress: Progress | None = None,
) -> list[ItemResult]:
    """Greedy free answers, then one batch of judge calls scoring them against the references."""
    model.eval()
    answers = []
    for item in items:
        answers.append(greedy_answer(model, tokenizer, item.question, max_new_tokens=max_new_tokens))
        if progress is not None:
            progress(1)
    return judge.score(items, answers) if items else []


def score_exact(
    model: Any,
    tokenizer: Any,
    items: list[ExactItem],
    *,
    max_new_tokens: int = 32,
    progress: Progress | None = None,
) -> list[ItemResult]:
    """Greedy answer compared with the reference after NFKC, case and whitespace normalisation."""
    results = []
    model.eval()
    for item in items:
        answer = greedy_answer(model, tokenizer, item.question, max_new_tokens=max_new_tokens)
        results.append(
            ItemResult(
                item.id, "exact", _normalise(answer) == _normalise(item.answer), answer, item.answer
            )
        )
        if progress is not None:
            progress(1)
    return results


def evaluate(
    model: Any,
    tokenizer: Any,
    items: list[AnyItem],
    *,
    label: str,
    batch_size: int = 16,
    progress: Progress | None = None,
    judge: AnswerJudge | None = None,
) -> EvalResult:
    """Score every item; results keep the benchmark's item order. Judged items need `judge`."""
    t0 = time.perf_counter()
    choice = [it for it in items if isinstance(it, ChoiceItem)]
    exact = [it for it in items if isinstance(it, ExactItem)]
    judged = [it for it in items if isinstance(it, JudgedItem)]
    if judged and judge is None:
        raise BenchmarkError(
            f"{len(judged)} judged item(s) and no judge: pass --judge-backend (and --judge-model, "
            "--judge-base-url)"
        )
    by_id = {
        r.id: r
        for r in score_choices(model, tokenizer, choice, batch_size=batch_size, progress=progress)
    }
    by_id.update({r.id: r for r in score_exact(model, tokenizer, exact, progress=progress)})
    if judged and judge is not None:
        by_id.update(
            {r.id: r for r in score_judged(model, tokenizer, judged, judge, progress=progress)}
        )
    return EvalResult(label, [by_id[it.id] for it in items], time.perf_counter() - t0)
