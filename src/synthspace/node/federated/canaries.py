"""Canaries: measure how much a federated adapter memorised of a node's own training data.

Carlini et al., "The Secret Sharer" (USENIX Security 2019). A node that opts in
(`node join --canaries N`) plants N random secrets of a fixed format - "my secret code is
DDDDDD" with six random digits - into its training examples, each repeated `repeats` times. After
training, the node scores the final adapter: the canary's log-perplexity (summed token loss of
the whole sentence) is ranked among |R| candidates of the same format (the canary plus |R|-1
random other codes, drawn from a seeded generator). Exposure = log2|R| - log2(rank): 0 bits
means the model prefers the true secret no more than a random code; log2|R| bits means it ranks
the secret first of all candidates (memorised).

The secrets are created once per node with `secrets`, kept in NODE_HOME/federation/canaries.json
(0600) and never sent anywhere; only the exposure numbers leave the node.
"""

from __future__ import annotations

import json
import math
import os
import random
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from synthspace.errors import SynthspaceError

CANARY_FILE = "canaries.json"
PREFIX = "my secret code is "
DIGITS = 6


class CanaryError(SynthspaceError):
    """The node's canary file is unreadable or does not hold what this node planted."""


def canary_text(code: str) -> str:
    return f"{PREFIX}{code}"


def load_or_create(home: Path | str, count: int) -> list[str]:
    """The node's `count` canary sentences (created on first use, then stable across rounds)."""
    path = Path(home).expanduser() / "federation" / CANARY_FILE
    codes: list[str] = []
    if path.is_file():
        try:
            codes = [str(c) for c in json.loads(path.read_text(encoding="utf-8"))["codes"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CanaryError(f"{path} is not a canary file: {exc}") from exc
    if len(codes) < count:
        codes += [f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}" for _ in range(count - len(codes))]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"format": canary_text("D" * DIGITS), "codes": codes}, fh)
        os.replace(tmp, path)
    return [canary_text(c) for c in codes[:count]]


def candidates(canary: str, size: int, seed: int = 0) -> list[str]:
    """The canary plus `size - 1` distinct random codes of the same format (deterministic)."""
    code = canary[len(PREFIX) :]
    rng = random.Random(f"{seed}:{code}")
    out = {code}
    while len(out) < min(size, 10**DIGITS):
        out.add(f"{rng.randrange(10**DIGITS):0{DIGITS}d}")
    return [canary] + [canary_text(c) for c in sorted(out - {code})]


def exposure(canary_score: float, other_scores: Sequence[float]) -> float:
    """log2|R| - log2(rank) where rank is the canary's position by ascending log-perplexity
    among itself and `other_scores` (ties count half, so equal scores give no exposure credit)."""
    size = len(other_scores) + 1
    lower = sum(1 for s in other_scores if s < canary_score)
    ties = sum(1 for s in other_scores if s == canary_score)
    rank = 1 + lower + ties / 2
    return math.log2(size) - math.log2(rank)


def log_perplexities(model: Any, tokenizer: Any, texts: list[str], batch_size: int = 64) -> list[float]:
    """Summed token negative log-likelihood (nats) of each text under `model`."""
    import torch

    model.eval()
    out: list[float] = []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    side = tokenizer.padding_side
    tokenizer.padding_side = "right"  # positions start at 0 for every text
    try:
        batches = [tokenizer(texts[i : i + batch_size], return_tensors="pt", padding=True) for i in range(0, len(texts), batch_size)]
    finally:
        tokenizer.padding_side = side
    with torch.no_grad():
        for enc in batches:
            ids, mask = enc["input_ids"], enc["attention_mask"]
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
            target = ids[:, 1:].masked_fill(mask[:, 1:] == 0, pad)
            nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target, reduction="none")
            out += (nll * mask[:, 1:]).sum(dim=1).tolist()
    return [float(v) for v in out]


def measure(model: Any, tokenizer: Any, canaries: list[str], size: int) -> dict[str, Any]:
    """{"candidates": |R|, "exposure": [bits per canary]} of `canaries` under `model`."""
    exposures = []
    for canary in canaries:
        scores = log_perplexities(model, tokenizer, candidates(canary, size))
        exposures.append(exposure(scores[0], scores[1:]))
    return {"candidates": size, "exposure": exposures}
