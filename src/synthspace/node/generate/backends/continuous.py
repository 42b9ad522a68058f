"""Continuous batching for the transformers backend: a finished row frees its slot at once.

Static batching (`model.generate` over a batch) keeps every row's slot until the batch's longest
row ends, and a retry runs as a batch of one. Here one scheduler thread owns the model: up to
`slots` rows decode together; a row that stops (end token, token budget, or a complete JSON under
the grammar) resolves its future immediately, and the next waiting prompt is prefilled and joins
the running batch at the next step. The KV cache is one left-padded DynamicCache whose rows are
selected out and padded in as rows leave and join; columns that every row pads are trimmed.

Sampling per row is the same as the static path (grammar mask, then temperature and top-p), with
a per-row random generator seeded from the request, so a record does not depend on which other
records shared its batch.
"""

from __future__ import annotations

import inspect
import queue
import random
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from synthspace.node.generate.backends.base import Completion, GenerationRequest


@dataclass
class _Row:
    request: GenerationRequest
    future: Future[Completion]
    matcher: Any  # xgrammar GrammarMatcher or None
    generator: Any  # torch.Generator
    prompt_tokens: int
    tokens: list[int] = field(default_factory=list)
    stopped: bool = False


@dataclass
class _Job:
    request: GenerationRequest
    schema_key: str | None
    future: Future[Completion]


class ContinuousScheduler:
    """One decode loop over a changing set of rows; `submit` is thread-safe."""

    def __init__(
        self, model: Any, tokenizer: Any, device: str, slots: int, grammar_for: Any, threads: int | None, autostart: bool = True
    ) -> None:
        self.model = model
        self.tok = tokenizer
        self.device = device
        self.slots = slots
        self.grammar_for = grammar_for  # schema_key -> compiled xgrammar grammar
        self.threads = threads
        self.autostart = autostart
        self.jobs: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        params = inspect.signature(model.forward).parameters
        # transformers 5 renamed past_key_values to cache; older releases take the old name.
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self._keep_kw = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
        self.steps = 0
        self.slot_steps = 0  # sum over steps of active rows (utilisation = slot_steps / (steps * slots))

    # ---- public ------------------------------------------------------------------------------

    def submit(self, request: GenerationRequest, schema_key: str | None) -> Future[Completion]:
        fut: Future[Completion] = Future()
        self.jobs.put(_Job(request, schema_key, fut))
        if self.autostart:
            self.start()
        return fut

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="synthspace-continuous-batching", daemon=True)
                self._thread.start()

    def close(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                self.jobs.put(None)
                self._thread.join(timeout=60)
            self._thread = None

    # ---- the loop ----------------------------------------------------------------------------

    def _run(self) -> None:
        import torch

        if self.threads is not None:
            torch.set_num_threads(self.threads)
        rows: list[_Row] = []
        cache: Any = None
        mask: Any = None
        logits: Any = None
        masks: Any = None  # grammar bitmask of the first masks.shape[0] rows, filled during the forward
        closing = False
        # One helper thread fills the next step's grammar masks while the forward runs.
        masker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synthspace-grammar-mask")
        try:
            with torch.inference_mode():
                while True:
                    new_jobs: list[_Job] = []
                    if not rows and not closing:
                        job = self.jobs.get()
                        if job is None:
                            return
                        new_jobs.append(job)
                    while len(rows) + len(new_jobs) < self.slots:
                        try:
                            job = self.jobs.get_nowait()
                        except queue.Empty:
                            break
                        if job is None:
                            closing = True
                            break
                        new_jobs.append(job)
                    if new_jobs:
                        new_rows, new_cache, new_mask, new_logits = self._prefill(new_jobs)
                        rows, cache, mask, logits = self._merge(rows, cache, mask, logits, new_rows, new_cache, new_mask, new_logits)
                    if not rows:
                        if closing:
                            return
                        continue
                    next_tokens = self._sample(rows, logits, masks)
                    masks = None
                    keep: list[int] = []
                    for i, (row, t) in enumerate(zip(rows, next_tokens, strict=True)):
                        if self._advance(row, t):
                            keep.append(i)
                    self.steps += 1
                    self.slot_steps += len(rows)
                    if len(keep) < len(rows):
                        rows = [rows[i] for i in keep]
                        if not rows:
                            cache = mask = logits = None
                            continue
                        idx = torch.tensor(keep, device=self.device)
                        cache = self._select(cache, idx)
                        mask = mask.index_select(0, idx)
                        next_tokens = [next_tokens[i] for i in keep]
                    cache, mask = self._trim(cache, mask)
                    mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
                    ids = torch.tensor(next_tokens, device=self.device)[:, None]
                    pos = (mask.sum(dim=1, keepdim=True) - 1).to(torch.long)
                    # The next step's grammar masks depend only on the tokens just accepted, not
                    # on the logits, so they are filled on a helper thread while the forward runs
                    # (xgrammar and torch both release the GIL): measured ~10 ms per row per step
                    # for the demo recipes' pattern grammars, a third of a decode step at 8 rows.
                    pending = masker.submit(self._fill_masks, list(rows), logits.shape[1]) if self._grammared(rows) else None
                    try:
                        out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, **{self._cache_kw: cache})
                    finally:
                        masks = pending.result() if pending is not None else None
                    cache, logits = self._cache_of(out), out.logits[:, -1, :].float()
        except BaseException as exc:  # never leave a caller waiting on a dead scheduler
            for row in rows:
                if not row.future.done():
                    row.future.set_exception(exc)
            while True:
                try:
                    job = self.jobs.get_nowait()
                except queue.Empty:
                    break
                if job is not None and not job.future.done():
                    job.future.set_exception(exc)
            raise
        finally:
            masker.shutdown(wait=True)

    def _prefill(self, jobs: Sequence[_Job]) -> tuple[list[_Row], Any, Any, Any]:
        import torch
        import xgrammar as xgr

        texts = [self.tok.apply_chat_template(j.request.messages, tokenize=False, add_generation_prompt=True) for j in jobs]
        enc = self.tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        mask = enc["attention_mask"]
        pos = (mask.cumsum(dim=1) - 1).clamp(min=0)
        out = self.model(input_ids=enc["input_ids"], attention_mask=mask, position_ids=pos, use_cache=True, **self._keep_kw)
        rows = []
        for i, j in enumerate(jobs):
            gen = torch.Generator(device="cpu")
            gen.manual_seed(int(j.request.seed) if j.request.seed is not None else random.getrandbits(63))
            compiled = self.grammar_for(j.schema_key) if j.schema_key is not None else None
            rows.append(
                _Row(
                    request=j.request,
                    future=j.future,
                    matcher=xgr.GrammarMatcher(compiled) if compiled is not None else None,
                    generator=gen,
                    prompt_tokens=int(mask[i].sum()),
                )
            )
        return rows, self._cache_of(out), mask, out.logits[:, -1, :].float()

    def _cache_of(self, out: Any) -> Any:
        return out.cache if self._cache_kw == "cache" else out.past_key_values

    @staticmethod
    def _layers(cache: Any) -> list[Any]:
        return list(cache.layers)

    def _select(self, cache: Any, idx: Any) -> Any:
        for layer in self._layers(cache):
            layer.keys = layer.keys.index_select(0, idx)
            layer.values = layer.values.index_select(0, idx)
        return cache

    def _trim(self, cache: Any, mask: Any) -> tuple[Any, Any]:
        """Drop leading columns that are padding in every row (left padding left by departed rows)."""
        lead = int((mask.cumsum(dim=1) == 0).sum(dim=1).min())
        if lead > 0:
            for layer in self._layers(cache):
                layer.keys = layer.keys[:, :, lead:, :]
                layer.values = layer.values[:, :, lead:, :]
            mask = mask[:, lead:]
        return cache, mask

    def _merge(self, rows: list[_Row], cache: Any, mask: Any, logits: Any,
               new_rows: list[_Row], new_cache: Any, new_mask: Any, new_logits: Any) -> tuple[list[_Row], Any, Any, Any]:
        import torch
        import torch.nn.functional as F

        if not rows:
            return new_rows, new_cache, new_mask, new_logits
        la, lb = mask.shape[1], new_mask.shape[1]
        n = max(la, lb)
        for a, b in zip(self._layers(cache), self._layers(new_cache), strict=True):
            ka, va, kb, vb = a.keys, a.values, b.keys, b.values
            if la < n:
                ka, va = F.pad(ka, (0, 0, n - la, 0)), F.pad(va, (0, 0, n - la, 0))
            if lb < n:
                kb, vb = F.pad(kb, (0, 0, n - lb, 0)), F.pad(vb, (0, 0, n - lb, 0))
            a.keys, a.values = torch.cat([ka, kb], dim=0), torch.cat([va, vb], dim=0)
        mask = torch.cat([F.pad(mask, (n - la, 0)), F.pad(new_mask, (n - lb, 0))], dim=0)
        return rows + new_rows, cache, mask, torch.cat([logits, new_logits], dim=0)

    @staticmethod
    def _grammared(rows: Sequence[_Row]) -> bool:
        return any(r.matcher is not None for r in rows)

    @staticmethod
    def _fill_masks(rows: Sequence[_Row], vocab: int) -> Any:
        """Token bitmask per row from its matcher's current state (all tokens for a free row)."""
        import xgrammar as xgr

        bitmask = xgr.allocate_token_bitmask(len(rows), vocab)
        for i, r in enumerate(rows):
            if r.matcher is not None:
                r.matcher.fill_next_token_bitmask(bitmask, i)
            else:
                bitmask[i].fill_(-1)  # all tokens allowed
        return bitmask

    def _sample(self, rows: list[_Row], logits: Any, masks: Any = None) -> list[int]:
        import torch
        import xgrammar as xgr

        vocab = logits.shape[1]
        if self._grammared(rows):
            done = 0 if masks is None else masks.shape[0]
            bitmask = masks
            if done < len(rows):  # rows that joined since the masks were filled
                fresh = self._fill_masks(rows[done:], vocab)
                bitmask = fresh if masks is None else torch.cat([masks, fresh], dim=0)
            xgr.apply_token_bitmask_inplace(logits, bitmask.to(logits.device))
        out = []
        for i, r in enumerate(rows):
            row = logits[i]
            if r.request.temperature <= 0:
                out.append(int(torch.argmax(row)))
                continue
            row = row / max(r.request.temperature, 1e-5)
            if r.request.top_p < 1.0:
                out.append(self._top_p(row, r.request.top_p, r.generator))
            else:
                out.append(int(torch.multinomial(row.softmax(dim=-1), 1, generator=r.generator)))
        return out

    @staticmethod
    def _top_p(row: Any, top_p: float, generator: Any) -> int:
        """Nucleus sampling; the nucleus is looked for among the top 64 tokens first.

        Sorting the whole 49k vocabulary per row cost ~3 ms a step; at the recipes' temperatures
        the nucleus is almost always within the top 64, and when their mass reaches top_p the
        nucleus found there is exactly the one a full sort finds. Otherwise: the full sort.
        """
        import torch

        probs = row.softmax(dim=-1)
        k = min(64, probs.shape[0])
        sp, si = torch.topk(probs, k)
        cum = sp.cumsum(dim=-1)
        if k < probs.shape[0] and float(cum[-1]) < top_p:
            sp, si = torch.sort(probs, descending=True)
            cum = sp.cumsum(dim=-1)
        sp = sp.masked_fill(cum - sp > top_p, 0.0)
        choice = torch.multinomial(sp / sp.sum(), 1, generator=generator)
        return int(si[choice])

    def _advance(self, row: _Row, token: int) -> bool:
        """Record one token; True while the row goes on, False once its future is resolved."""
        eos = self.tok.eos_token_id
        if token == eos:
            row.stopped = True
        else:
            row.tokens.append(token)
            if row.matcher is not None:
                row.matcher.accept_token(token)
                if row.matcher.is_terminated():
                    row.stopped = True
        if not row.stopped and len(row.tokens) < row.request.max_tokens:
            return True
        text = self.tok.decode(row.tokens, skip_special_tokens=True)
        row.future.set_result(
            Completion(
                text=text,
                finish_reason="stop" if row.stopped else "length",
                prompt_tokens=row.prompt_tokens,
                completion_tokens=len(row.tokens) + (1 if row.stopped else 0),
            )
        )
        return False
