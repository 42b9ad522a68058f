"""In-process vLLM batch inference with guided JSON decoding (optional extra `synthspace[vllm]`).

NOT RUN in this project's build environment: vLLM cannot be installed there and there is no
GPU. The path is deliberately thin, import-guarded, and fails with a clear message. The tested
way to use vLLM is `vllm serve` plus the `openai` backend (see docs/generation.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from synthspace.node.generate.backends.base import (
    Backend,
    BackendUnavailableError,
    Completion,
    GenerationRequest,
    GeneratorInfo,
)


class VLLMBackend(Backend):
    """`vllm.LLM` in this process, on this node's GPUs."""

    name = "vllm"

    def __init__(self, model: str | None = None, batch_size: int = 256, **llm_options: Any) -> None:
        try:
            import vllm  # noqa: F401
        except ImportError:
            raise BackendUnavailableError(
                "the vllm backend needs vLLM: `pip install 'synthspace[vllm]'` on a machine with a CUDA GPU, "
                "or run `vllm serve MODEL` and use --backend openai --base-url http://HOST:8000/v1"
            ) from None
        import torch

        if not torch.cuda.is_available():
            raise BackendUnavailableError("the vllm backend needs a CUDA GPU and none is visible; use --backend transformers")
        if not model:
            raise BackendUnavailableError("the vllm backend needs --model (a local path or model name vLLM can load)")
        self.model = model
        self.max_batch_size = batch_size
        self.max_concurrency = 1
        self._options = llm_options
        self._llm: Any = None

    def info(self) -> GeneratorInfo:
        return GeneratorInfo("vllm", self.model, None, {"batch_size": self.max_batch_size, **self._options})

    def _sampling_params(self, r: GenerationRequest, json_schema: dict[str, Any] | None) -> Any:
        from vllm import SamplingParams

        kwargs: dict[str, Any] = {"temperature": r.temperature, "top_p": r.top_p, "max_tokens": r.max_tokens, "seed": r.seed}
        if json_schema is not None:
            try:  # vLLM >= 0.10.2
                from vllm.sampling_params import StructuredOutputsParams

                kwargs["structured_outputs"] = StructuredOutputsParams(json=json_schema)
            except ImportError:  # older vLLM
                from vllm.sampling_params import GuidedDecodingParams

                kwargs["guided_decoding"] = GuidedDecodingParams(json=json_schema)
        return SamplingParams(**kwargs)

    def _run(self, requests: Sequence[GenerationRequest], json_schema: dict[str, Any] | None) -> list[Completion]:
        if self._llm is None:
            from vllm import LLM

            self._llm = LLM(model=self.model, **self._options)
        outputs = self._llm.chat([r.messages for r in requests], [self._sampling_params(r, json_schema) for r in requests], use_tqdm=False)
        results = []
        for o in outputs:
            c = o.outputs[0]
            results.append(
                Completion(
                    text=c.text,
                    finish_reason="length" if c.finish_reason == "length" else "stop",
                    prompt_tokens=len(o.prompt_token_ids or []),
                    completion_tokens=len(c.token_ids),
                )
            )
        return results

    async def agenerate(self, requests: Sequence[GenerationRequest], json_schema: dict[str, Any] | None) -> list[Completion]:
        return await asyncio.to_thread(self._run, requests, json_schema)
