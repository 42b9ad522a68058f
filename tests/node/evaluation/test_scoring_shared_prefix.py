"""The shared-prefix scorer gives the same option log-likelihoods as scoring every whole sequence.

`reference_scores` is the scorer as it was before the prompt was shared: every (prompt + option)
sequence scored on its own row, right-padded, in batches. The new path (prompts left-padded with
explicit positions, options on top of the cached prompt keys/values) must pick the same option
for every item and give every option the same summed log-probability up to float rounding, for
several group sizes, with a LoRA adapter applied, and for an item too long for the shared prefix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from synthspace.node.evaluation import scoring
from synthspace.node.evaluation.benchmark import ChoiceItem
from tests.federated import conftest as federation_fixtures

tiny_model = federation_fixtures.tiny_model  # the tiny 2-layer Llama folder (session fixture)

ITEMS = [
    ChoiceItem(id="a", kind="choice", question="What status code means not found?",
               options=["404", "200", "500 Internal Server Error"], answer=0),
    ChoiceItem(id="b", kind="choice", question="OK?", options=["301 moved", "200"], answer=1),
    ChoiceItem(id="c", kind="choice",
               question="Under Article 3 of the fictional ordinance, within how many days must a "
                        "business disclose a user's data when the user asks for it in writing?",
               options=["within 30 days", "within 14 days", "within 60 days", "within 7 days",
                        "never"], answer=0),
    ChoiceItem(id="d", kind="choice", question="Pick one.", options=["x", "y"], answer=1),
    ChoiceItem(id="e", kind="choice", question="Which is a redirect status in HTTP/1.1?",
               options=["418 I'm a teapot", "302 Found", "a"], answer=1),
]  # fmt: skip


def reference_scores(
    model: Any, tokenizer: Any, items: list[ChoiceItem], batch_size: int
) -> list[list[float]]:
    """The scorer before the shared prefix: each whole (prompt + option) sequence, right-padded."""
    import torch

    seqs: list[tuple[int, list[int], int]] = []
    for i, item in enumerate(items):
        prompt = scoring._prompt_ids(tokenizer, item.question)
        for option in item.options:
            opt = list(tokenizer(option, add_special_tokens=False)["input_ids"]) or [
                tokenizer.eos_token_id
            ]
            seq = (prompt + opt)[-scoring.MAX_SEQ_TOKENS :]
            seqs.append((i, seq, max(1, len(seq) - len(opt))))
    scores: list[list[float]] = [[] for _ in items]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
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
                scores[i].append(
                    float(
                        logprobs[r, start - 1 : len(toks) - 1].gather(1, targets.unsqueeze(1)).sum()
                    )
                )
    return scores


@pytest.fixture(scope="module")
def base(tiny_model: Path) -> Any:
    from synthspace.node.federated.lora import load_base_model

    return load_base_model(str(tiny_model))


class _TokenCounter:
    """Counts the input tokens (rows × width) of every forward pass of a model."""

    def __init__(self, model: Any) -> None:
        self.tokens = 0
        self.handle = model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.tokens += int(ids.numel())


def _assert_same(
    new: list[scoring.ItemResult], ref: list[list[float]], items: list[ChoiceItem]
) -> None:
    assert [r.id for r in new] == [i.id for i in items]
    for result, ref_scores, item in zip(new, ref, items, strict=True):
        assert len(result.scores) == len(item.options)
        assert result.scores == pytest.approx(ref_scores, abs=1e-4), item.id
        best = max(range(len(ref_scores)), key=lambda k: ref_scores[k])
        assert result.predicted == item.options[best], item.id
        assert result.correct == (best == item.answer)


@pytest.mark.parametrize("batch_size", [1, 4, 7, 64])
def test_shared_prefix_equals_whole_sequences(base: Any, batch_size: int) -> None:
    ref = reference_scores(base.model, base.tokenizer, ITEMS, batch_size=16)
    assert len({round(s, 3) for scores in ref for s in scores}) > 10  # a model whose scores differ
    new = scoring.score_choices(base.model, base.tokenizer, ITEMS, batch_size=batch_size)
    _assert_same(new, ref, ITEMS)


def test_prompt_is_encoded_once_per_item(base: Any) -> None:
    """Positive control on the speed-up: far fewer tokens go through the model than before."""
    counter = _TokenCounter(base.model)
    try:
        reference_scores(base.model, base.tokenizer, ITEMS, batch_size=16)
        before, counter.tokens = counter.tokens, 0
        scoring.score_choices(base.model, base.tokenizer, ITEMS, batch_size=16)
        after = counter.tokens
    finally:
        counter.handle.remove()
    assert 0 < after < before / 2


def test_shared_prefix_with_adapter_applied(base: Any, tiny_model: Path) -> None:
    """Through a peft LoRA wrapper (non-zero adapter weights), the same equality holds."""
    import torch

    from synthspace.node.federated.lora import LoraSettings, attach_lora, load_base_model

    fresh = load_base_model(str(tiny_model))
    tuned = attach_lora(fresh.model, LoraSettings(rank=4, alpha=8))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in tuned.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    plain = reference_scores(base.model, base.tokenizer, ITEMS, batch_size=16)
    ref = reference_scores(tuned, fresh.tokenizer, ITEMS, batch_size=16)
    flat = [s for scores in ref for s in scores]
    assert flat != pytest.approx(
        [s for scores in plain for s in scores], abs=1e-3
    )  # the adapter changes them
    _assert_same(scoring.score_choices(tuned, fresh.tokenizer, ITEMS, batch_size=8), ref, ITEMS)


def test_items_too_long_for_the_shared_prefix_are_truncated_as_before(
    base: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    lengths = {i.id: len(scoring._prompt_ids(base.tokenizer, i.question)) for i in ITEMS}
    limit = lengths["c"] + 1  # item c's prompt + any option is too long; a, b, d fit
    assert all(lengths[k] + 4 < limit for k in ("a", "b", "d"))
    monkeypatch.setattr(scoring, "MAX_SEQ_TOKENS", limit)
    ref = reference_scores(base.model, base.tokenizer, ITEMS, batch_size=16)
    new = scoring.score_choices(base.model, base.tokenizer, ITEMS, batch_size=16)
    _assert_same(new, ref, ITEMS)
