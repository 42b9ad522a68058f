"""The one interface every generation backend implements."""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

from synthspace.errors import SynthspaceError

T = TypeVar("T")


class BackendError(SynthspaceError):
    """A backend cannot run: missing dependency, unreachable endpoint, rejected request."""


class BackendUnavailableError(BackendError):
    """The backend's library, device or endpoint is not available."""


class BackendRequestError(BackendError):
    """The endpoint rejected a request in a way retrying cannot fix (e.g. 400, 401, 404)."""


@dataclass(frozen=True)
class GenerationRequest:
    """One chat completion to produce."""

    key: str
    messages: list[dict[str, str]]
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 512
    seed: int | None = None


FinishReason = Literal["stop", "length", "error"]


@dataclass
class Completion:
    """A backend's answer to one request."""

    text: str
    finish_reason: FinishReason = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None


@dataclass(frozen=True)
class GeneratorInfo:
    """What lineage records about a backend: name, model id, weights digest, parameters."""

    backend: Literal["transformers", "openai", "vllm"]
    model_id: str
    model_digest: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, also when called inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    t = threading.Thread(target=target, name="synthspace-backend-sync")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


class Backend(ABC):
    """A source of chat completions, structured (JSON schema) or free text.

    `max_batch_size` requests go into one `agenerate` call and up to `max_concurrency` calls run
    at once: an HTTP backend takes 1 x many, a local model many x 1.
    """

    name: ClassVar[Literal["transformers", "openai", "vllm"]]
    max_batch_size: int = 1
    max_concurrency: int = 1

    @abstractmethod
    def info(self) -> GeneratorInfo:
        """Backend name, model id and weights digest for the run manifest and lineage."""

    @abstractmethod
    async def agenerate(
        self, requests: Sequence[GenerationRequest], json_schema: dict[str, Any] | None
    ) -> list[Completion]:
        """One completion per request, in order; constrained to `json_schema` when given."""

    async def aclose(self) -> None:
        """Release connections or models held for the current event loop."""
        return None

    async def acomplete_text(
        self, prompts: Sequence[str], max_tokens: int = 256, temperature: float = 0.7
    ) -> list[str]:
        """Plain chat completions of `prompts` (one user message each)."""
        out: list[str] = []
        step = self.max_batch_size * self.max_concurrency
        for start in range(0, len(prompts), step):
            chunk = prompts[start : start + step]
            reqs = [
                GenerationRequest(
                    key=str(start + i),
                    messages=[{"role": "user", "content": p}],
                    temperature=temperature,
                    top_p=1.0,
                    max_tokens=max_tokens,
                )
                for i, p in enumerate(chunk)
            ]
            batches = [reqs[i : i + self.max_batch_size] for i in range(0, len(reqs), self.max_batch_size)]
            results = await asyncio.gather(*(self.agenerate(b, None) for b in batches))
            for comps in results:
                for c in comps:
                    if c.error:
                        raise BackendError(f"{self.name} backend failed to complete a prompt: {c.error}")
                    out.append(c.text)
        return out

    def complete_text(self, prompts: Sequence[str], max_tokens: int = 256, temperature: float = 0.7) -> list[str]:
        """Sync form of `acomplete_text` (used e.g. for persona narratives)."""

        async def go() -> list[str]:
            try:
                return await self.acomplete_text(list(prompts), max_tokens=max_tokens, temperature=temperature)
            finally:
                await self.aclose()

        return run_sync(go())

    def generate(
        self, requests: Sequence[GenerationRequest], json_schema: dict[str, Any] | None = None
    ) -> list[Completion]:
        """Sync form of `agenerate` over any number of requests."""

        async def go() -> list[Completion]:
            try:
                batches = [requests[i : i + self.max_batch_size] for i in range(0, len(requests), self.max_batch_size)]
                sem = asyncio.Semaphore(self.max_concurrency)

                async def one(b: Sequence[GenerationRequest]) -> list[Completion]:
                    async with sem:
                        return await self.agenerate(b, json_schema)

                parts = await asyncio.gather(*(one(b) for b in batches))
                return [c for part in parts for c in part]
            finally:
                await self.aclose()

        return run_sync(go())
