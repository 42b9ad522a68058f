"""STAND-IN for vLLM (not vLLM). Implements only the surface synthspace's in-process `vllm`
backend uses, with vLLM's names and argument checks, so tests can drive that backend on a
machine where vLLM cannot be installed. It generates no language: structured requests get a
value that fits the JSON schema (the same filler the OpenAI stub server returns), free-text
requests a fixed sentence. Put this folder's parent first on sys.path to use it.
"""

from __future__ import annotations

from vllm.outputs import CompletionOutput, RequestOutput
from vllm.sampling_params import SamplingParams

IS_STANDIN = True
__version__ = "0.0.0+synthspace-standin"

CALLS: list[dict] = []  # every chat() call's messages and sampling params, for assertions


class LLM:
    def __init__(self, model: str, **kwargs: object) -> None:
        allowed = {"dtype", "gpu_memory_utilization", "max_model_len", "tensor_parallel_size", "seed", "enforce_eager"}
        unknown = set(kwargs) - allowed
        if unknown:
            raise TypeError(f"LLM() got unexpected keyword arguments {sorted(unknown)}")
        self.model = model

    def chat(self, messages: list, sampling_params: SamplingParams | list[SamplingParams], use_tqdm: bool = True) -> list[RequestOutput]:
        from vllm._standin_engine import complete

        if isinstance(sampling_params, SamplingParams):
            sampling_params = [sampling_params] * len(messages)
        if len(sampling_params) != len(messages):
            raise ValueError("the lengths of prompts and sampling_params must be the same")
        CALLS.append({"messages": messages, "params": sampling_params})
        return [complete(str(i), m, p) for i, (m, p) in enumerate(zip(messages, sampling_params, strict=True))]


__all__ = ["LLM", "CompletionOutput", "RequestOutput", "SamplingParams"]
