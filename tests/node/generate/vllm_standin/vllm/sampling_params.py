"""STAND-IN for vllm.sampling_params (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class StructuredOutputsParams:
    json: dict[str, Any] | str | None = None
    regex: str | None = None
    choice: list[str] | None = None

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.json, self.regex, self.choice)) != 1:
            raise ValueError("exactly one kind of structured output must be given")


GuidedDecodingParams = StructuredOutputsParams  # the name before vLLM 0.10.2


class SamplingParams:
    def __init__(
        self,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_tokens: int | None = 16,
        seed: int | None = None,
        structured_outputs: StructuredOutputsParams | None = None,
    ) -> None:
        if temperature < 0:
            raise ValueError(f"temperature must be non-negative, got {temperature}")
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        if max_tokens is not None and max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
        self.temperature, self.top_p, self.max_tokens, self.seed = temperature, top_p, max_tokens, seed
        self.structured_outputs = structured_outputs
