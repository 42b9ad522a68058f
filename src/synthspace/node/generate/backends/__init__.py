"""Generation backends behind one interface: `get_backend(name, **options)`.

Backends are imported only when chosen, so torch/xgrammar load only for `transformers` and
vLLM only for `vllm`.
"""

from __future__ import annotations

from typing import Any

from synthspace.node.generate.backends.base import (
    Backend,
    BackendError,
    BackendRequestError,
    BackendUnavailableError,
    Completion,
    GenerationRequest,
    GeneratorInfo,
)

BACKENDS = ("transformers", "openai", "vllm")


def get_backend(name: str, **options: Any) -> Backend:
    """A backend by name ("transformers" | "openai" | "vllm"); options go to its constructor.

    transformers: model (local folder; None = embedded), device (auto|cpu|cuda), batch_size, dtype, threads,
    batching (continuous, the default | static).
    openai: model, base_url, api_key, concurrency, timeout, max_attempts, structured_output, client.
    vllm: model, batch_size, and vllm.LLM keyword options.
    """
    options = {k: v for k, v in options.items() if v is not None}
    cls: type[Backend]
    if name == "transformers":
        from synthspace.node.generate.backends.transformers_backend import TransformersBackend

        cls = TransformersBackend
    elif name == "openai":
        from synthspace.node.generate.backends.openai_backend import OpenAIBackend

        cls = OpenAIBackend
    elif name == "vllm":
        from synthspace.node.generate.backends.vllm_backend import VLLMBackend

        cls = VLLMBackend
    else:
        raise BackendUnavailableError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    try:
        return cls(**options)
    except TypeError as exc:
        if "unexpected keyword" not in str(exc):
            raise
        raise BackendUnavailableError(f"option not understood by the {name} backend: {exc}") from None


__all__ = [
    "BACKENDS",
    "Backend",
    "BackendError",
    "BackendRequestError",
    "BackendUnavailableError",
    "Completion",
    "GenerationRequest",
    "GeneratorInfo",
    "get_backend",
]
