"""Local generation with Hugging Face transformers (CPU or GPU).

Batched `model.generate` over chat-templated, left-padded prompts. Structured output is
guaranteed by grammar-constrained decoding: the output JSON schema is compiled by xgrammar into
a grammar whose token mask is applied to the logits at every step, so even the embedded 135M
model can only emit JSON that parses and fits the schema's types, enums and lengths.
Per-row temperature and top-p are applied by our own logits processor so one batch can mix
sampling parameters drawn per record.

Two schedules (`batching`): `continuous` (default; see continuous.py) frees a finished row's slot
at once, lets the next prompt take it and reuses the KV of prompts it has already prefilled;
`static` runs `model.generate` over whole batches, each held until its longest row ends, and is
kept for comparison. On this project's CPU, over three seeds of the demo's plans, continuous gave
1.60x (legal) and 1.56x (support) static's records/s and 1.5-1.7x its tokens/s
(docs/benchmarks.md, Generation 3).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from synthspace.node.generate.backends.base import (
    Backend,
    BackendUnavailableError,
    Completion,
    GenerationRequest,
    GeneratorInfo,
)
from synthspace.node.generate.backends.continuous import ContinuousScheduler
from synthspace.node.models.embedded import EMBEDDED_MODEL_ID, load_embedded_model, model_digest


def _dir_digest(path: Path) -> str | None:
    """'sha256:<hex>' over the weight files of a local model folder (name + content, sorted)."""
    files = sorted(p for p in path.glob("*") if p.suffix in {".safetensors", ".bin", ".gguf"})
    if not files:
        return None
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0")
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return "sha256:" + h.hexdigest()


class GrammarLogitsProcessor:
    """xgrammar token masks per row; a finished row may only emit the stop token."""

    def __init__(self, compiled: Any, batch_size: int, vocab_size: int, eos_id: int) -> None:
        import xgrammar as xgr

        self._xgr = xgr
        self.matchers = [xgr.GrammarMatcher(compiled) for _ in range(batch_size)]
        self.bitmask = xgr.allocate_token_bitmask(batch_size, vocab_size)
        self.eos_id = eos_id
        self._started = False

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if self._started:
            for i, m in enumerate(self.matchers):
                if not m.is_terminated():
                    m.accept_token(int(input_ids[i, -1]))
        self._started = True
        done_rows = []
        for i, m in enumerate(self.matchers):
            if m.is_terminated():
                done_rows.append(i)
            else:
                m.fill_next_token_bitmask(self.bitmask, i)
        device = scores.device
        s = scores if device.type in ("cpu", "cuda") else scores.to("cpu")
        self._xgr.apply_token_bitmask_inplace(s, self.bitmask.to(s.device))
        for i in done_rows:
            s[i, :] = -torch.inf
            s[i, self.eos_id] = 0.0
        return s.to(device)


class RowSamplingProcessor:
    """Temperature and top-p per row (HF's built-in warpers take one value for the whole batch)."""

    def __init__(self, temperatures: Sequence[float], top_ps: Sequence[float], device: Any) -> None:
        import torch

        self.t = torch.tensor([max(t, 1e-5) for t in temperatures], dtype=torch.float32, device=device)[:, None]
        self.p = torch.tensor(list(top_ps), dtype=torch.float32, device=device)[:, None]

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        scores = scores / self.t
        if bool((self.p < 1.0).any()):
            sorted_logits, idx = torch.sort(scores, descending=True, dim=-1)
            cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
            remove = cum - sorted_logits.softmax(dim=-1) > self.p  # keep the token that crosses p
            sorted_logits = sorted_logits.masked_fill(remove, -torch.inf)
            scores = torch.full_like(scores, -torch.inf).scatter(-1, idx, sorted_logits)
        return scores


class TransformersBackend(Backend):
    """Batched local generation; `model=None` is the embedded SmolLM2-135M-Instruct."""

    name = "transformers"

    def __init__(
        self,
        model: str | None = None,
        device: str = "auto",
        batch_size: int = 8,
        dtype: str | None = None,
        grammar: bool = True,
        threads: int | None = None,
        batching: str = "continuous",
    ) -> None:
        if batch_size < 1:
            raise BackendUnavailableError("batch_size must be >= 1")
        if batching not in ("static", "continuous"):
            raise BackendUnavailableError(f"batching must be 'static' or 'continuous', not {batching!r}")
        import torch

        if threads is not None:
            if threads < 1:
                raise BackendUnavailableError("threads must be >= 1")
            # Process-wide. On a shared, oversubscribed CPU, OpenMP's spinning threads can make
            # 2 threads several times slower than 1 (measured: 23 s vs 3 s for one batch).
            torch.set_num_threads(threads)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailableError("device 'cuda' requested but no CUDA GPU is visible; use --device cpu")
        if model is not None and not Path(model).is_dir():
            raise BackendUnavailableError(
                f"model {model!r} is not a local folder; the transformers backend loads local Hugging Face-format "
                "folders only (no hub downloads). Leave --model unset for the embedded model."
            )
        self.threads = threads
        self.model_path = model
        self.device = device
        self.batching = batching
        self.slots = batch_size
        if batching == "continuous":
            # The runner hands over one request at a time from up to 2x slots workers, so a
            # waiting prompt is always queued when a row finishes.
            self.max_batch_size, self.max_concurrency = 1, 2 * batch_size
        else:
            self.max_batch_size, self.max_concurrency = batch_size, 1
        self._scheduler: Any = None
        self.dtype = dtype
        self.grammar = grammar
        self._model: Any = None
        self._tok: Any = None
        self._compiler: Any = None
        self._grammars: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._grammar_lock = threading.Lock()  # not _lock: compiling calls load(), which takes _lock
        self._info: GeneratorInfo | None = None

    def info(self) -> GeneratorInfo:
        if self._info is None:
            params = {
                "device": self.device,
                "batch_size": self.slots,
                "batching": self.batching,
                "grammar": "xgrammar" if self.grammar else None,
            }
            if self.model_path is None:
                self._info = GeneratorInfo("transformers", EMBEDDED_MODEL_ID, model_digest(), params)
            else:
                p = Path(self.model_path)
                self._info = GeneratorInfo("transformers", str(p.resolve()), _dir_digest(p), params)
        return self._info

    def load(self) -> tuple[Any, Any]:
        """(model, tokenizer), loaded once."""
        with self._lock:
            if self._model is None:
                import torch

                dtype = getattr(torch, self.dtype) if self.dtype else None
                if self.model_path is None:
                    model, tok = load_embedded_model(self.device, dtype=dtype)
                else:
                    from transformers import AutoModelForCausalLM, AutoTokenizer

                    tok = AutoTokenizer.from_pretrained(self.model_path)
                    model = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=dtype or torch.float32)
                    model.to(self.device)  # type: ignore[arg-type]
                    model.eval()
                tok.padding_side = "left"
                if tok.pad_token_id is None:
                    tok.pad_token = tok.eos_token
                self._model, self._tok = model, tok
        return self._model, self._tok

    def _grammar(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema, sort_keys=True)
        return self._grammar_by_key(key)

    def _grammar_by_key(self, key: str) -> Any:
        # Continuous batching calls this from one worker thread per request; unlocked, each
        # compiled the same schema again (measured: 4 compiles of one schema in one run).
        with self._grammar_lock:
            return self._compile_grammar(key)

    def _compile_grammar(self, key: str) -> Any:
        if key not in self._grammars:
            import xgrammar as xgr

            model, tok = self.load()
            if self._compiler is None:
                info = xgr.TokenizerInfo.from_huggingface(tok, vocab_size=model.config.vocab_size)
                self._compiler = xgr.GrammarCompiler(info)
            try:
                self._grammars[key] = self._compiler.compile_json_schema(key, any_whitespace=False)
            except Exception as exc:
                raise BackendUnavailableError(f"xgrammar cannot compile the output schema: {exc}") from None
        return self._grammars[key]

    def prompts(self, requests: Sequence[GenerationRequest]) -> list[str]:
        _, tok = self.load()
        return [tok.apply_chat_template(r.messages, tokenize=False, add_generation_prompt=True) for r in requests]

    def generate_batch(self, requests: Sequence[GenerationRequest], json_schema: dict[str, Any] | None) -> list[Completion]:
        """Generate one batch synchronously."""
        import torch

        model, tok = self.load()
        if self.threads is not None:
            # OpenMP's thread count is per calling thread; agenerate runs us in a worker thread.
            torch.set_num_threads(self.threads)
        texts = self.prompts(requests)
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        max_new = max(r.max_tokens for r in requests)
        processors: list[Any] = []
        grammar: GrammarLogitsProcessor | None = None
        if json_schema is not None and self.grammar:
            grammar = GrammarLogitsProcessor(self._grammar(json_schema), len(requests), model.config.vocab_size, tok.eos_token_id)
            processors.append(grammar)
        greedy = all(r.temperature <= 0 for r in requests)
        if not greedy:
            processors.append(RowSamplingProcessor([r.temperature for r in requests], [r.top_p for r in requests], self.device))
        seed = requests[0].seed
        if seed is not None:
            torch.manual_seed(seed)
        from transformers import LogitsProcessorList

        with torch.inference_mode():
            out = model.generate(
                **enc,
                max_new_tokens=max_new,
                do_sample=not greedy,
                temperature=1.0,
                top_p=1.0,
                top_k=0,
                logits_processor=LogitsProcessorList(processors),
                pad_token_id=tok.pad_token_id,
                eos_token_id=tok.eos_token_id,
            )
        gen = out[:, enc["input_ids"].shape[1] :]
        results = []
        for i, r in enumerate(requests):
            ids = gen[i].tolist()
            n = len(ids)
            stopped = False
            for j, t in enumerate(ids):
                if t == tok.eos_token_id:
                    n, stopped = j, True
                    break
            ids = ids[: min(n, r.max_tokens)]
            text = tok.decode(ids, skip_special_tokens=True)
            # With a grammar, the stop token is only allowed once the JSON is complete, so a
            # stop inside the token budget means a complete record.
            finished = stopped and n <= r.max_tokens
            results.append(
                Completion(
                    text=text,
                    finish_reason="stop" if finished else "length",
                    prompt_tokens=int(enc["attention_mask"][i].sum()),
                    completion_tokens=len(ids) + (1 if stopped else 0),
                )
            )
        return results

    async def agenerate(
        self, requests: Sequence[GenerationRequest], json_schema: dict[str, Any] | None
    ) -> list[Completion]:
        if self.batching == "static":
            # The forward passes hold the GIL only briefly; a thread keeps the event loop
            # (progress, shard flushing) responsive.
            return await asyncio.to_thread(self.generate_batch, requests, json_schema)
        key = None
        if json_schema is not None and self.grammar:
            key = json.dumps(json_schema, sort_keys=True)
            await asyncio.to_thread(self._grammar_by_key, key)  # compile off the event loop, once
        scheduler = await asyncio.to_thread(self._continuous)
        futures = [asyncio.wrap_future(scheduler.submit(r, key)) for r in requests]
        return list(await asyncio.gather(*futures))

    def _continuous(self) -> Any:
        with self._lock:
            if self._scheduler is not None:
                return self._scheduler
        model, tok = self.load()
        with self._lock:
            if self._scheduler is None:
                self._scheduler = ContinuousScheduler(model, tok, self.device, self.slots, self._grammar_by_key, self.threads)
            return self._scheduler

    async def aclose(self) -> None:
        if self._scheduler is not None:
            await asyncio.to_thread(self._scheduler.close)
            self._scheduler = None
        await super().aclose()
