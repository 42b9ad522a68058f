"""Run a benchmark against a model: batched option log-likelihoods, greedy exact match, accuracy + CI.

Multiple choice: the question is put in the model's chat template as the user turn, each option
is the assistant's reply; the option with the highest summed token log-probability wins. All
(item, option) pairs are scored in padded batches of `batch_size` sequences.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthspace.node.evaluation.benchmark import BenchmarkError, ChoiceItem, ExactItem
from synthspace.node.evaluation.stats import wilson_interval
from synthspace.node.federated.lora import LoraSettings, _normalise, attach_lora, load_adapter_state

ADAPTER_FILE = "adapter.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
MAX_SEQ_TOKENS = 512

Progress = Callable[[int], None]


@dataclass
class ItemResult:
    id: str
    kind: str
    correct: bool
    predicted: str
    expected: str
    scores: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "correct": self.correct,
            "predicted": self.predicted,
            "expected": self.expected,
            "scores": [round(s, 4) for s in self.scores],
        }


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


def score_choices(
    model: Any,
    tokenizer: Any,
    items: list[ChoiceItem],
    *,
    batch_size: int,
    progress: Progress | None = None,
) -> list[ItemResult]:
    """Summed log-probability of each option's tokens after the prompt, batched over all options."""
    import torch

    seqs: list[tuple[int, list[int], int]] = []  # (item index, token ids, option start)
    for i, item in enumerate(items):
        prompt = _prompt_ids(tokenizer, item.question)
        for option in item.options:
            opt = list(tokenizer(option, add_special_tokens=False)["input_ids"]) or [
                tokenizer.eos_token_id
            ]
            seq = (prompt + opt)[-MAX_SEQ_TOKENS:]
            seqs.append((i, seq, max(1, len(seq) - len(opt))))
    scores: list[list[float]] = [[] for _ in items]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    done_items = 0
    model.eval()
    with torch.no_grad():
        for b in range(0, len(seqs), batch_size):
            chunk = seqs[b : b + batch_size]
            width = max(len(s[1]) for s in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for r, (_, toks, _) in enumerate(chunk):
                ids[r, : len(toks)] = torch.tensor(toks)
                mask[r, : len(toks)] = 1
            logprobs = torch.log_softmax(
                model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1
            )
            for r, (i, toks, start) in enumerate(chunk):
                targets = torch.tensor(toks[start:])
                lp = logprobs[r, start - 1 : len(toks) - 1].gather(1, targets.unsqueeze(1)).sum()
                scores[i].append(float(lp))
            finished = sum(1 for i in range(len(items)) if len(scores[i]) == len(items[i].options))
            if progress is not None and finished > done_items:
                progress(finished - done_items)
            done_items = finished
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


def score_exact(
    model: Any,
    tokenizer: Any,
    items: list[ExactItem],
    *,
    max_new_tokens: int = 32,
    progress: Progress | None = None,
) -> list[ItemResult]:
    """Greedy answer compared with the reference after NFKC, case and whitespace normalisation."""
    import torch

    results = []
    model.eval()
    for item in items:
        ids = torch.tensor([_prompt_ids(tokenizer, item.question)])
        with torch.no_grad():
            out = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
        answer = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()
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
    items: list[ChoiceItem | ExactItem],
    *,
    label: str,
    batch_size: int = 16,
    progress: Progress | None = None,
) -> EvalResult:
    """Score every item; results keep the benchmark's item order."""
    t0 = time.perf_counter()
    choice = [it for it in items if isinstance(it, ChoiceItem)]
    exact = [it for it in items if isinstance(it, ExactItem)]
    by_id = {
        r.id: r
        for r in score_choices(model, tokenizer, choice, batch_size=batch_size, progress=progress)
    }
    by_id.update({r.id: r for r in score_exact(model, tokenizer, exact, progress=progress)})
    return EvalResult(label, [by_id[it.id] for it in items], time.perf_counter() - t0)
