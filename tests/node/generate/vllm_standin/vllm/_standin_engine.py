"""STAND-IN "engine": schema-shaped filler, one fake token per 4 characters (see the package docstring)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from vllm.outputs import CompletionOutput, RequestOutput
from vllm.sampling_params import SamplingParams

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from openai_stub_server import value_for


def complete(request_id: str, messages: list[dict[str, Any]], params: SamplingParams) -> RequestOutput:
    prompt = "\n".join(str(m.get("content", "")) for m in messages)
    key = hashlib.sha256(f"{prompt}|{params.seed}".encode()).hexdigest()
    so = params.structured_outputs
    if so is not None and so.json is not None:
        schema = so.json if isinstance(so.json, dict) else json.loads(so.json)
        text = json.dumps(value_for(schema, key), ensure_ascii=False)
    else:
        text = "A stand-in reply, not a model's."
    finish = "stop"
    if params.max_tokens is not None and len(_tokens(text)) > params.max_tokens:
        text, finish = text[: 4 * params.max_tokens], "length"
    return RequestOutput(request_id, prompt, _tokens(prompt), [CompletionOutput(0, text, _tokens(text), finish)])


def _tokens(text: str) -> list[int]:
    return [sum(map(ord, text[i : i + 4])) % 50000 for i in range(0, len(text), 4)]
