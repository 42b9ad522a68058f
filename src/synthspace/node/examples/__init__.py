"""Example recipes and their small, entirely fictional seed files, shipped as package data.

`example_path("ja_legal_qa.yaml")` gives the installed path of any of them.
"""

from __future__ import annotations

from pathlib import Path

from synthspace.errors import ConfigError

EXAMPLES_DIR = Path(__file__).resolve().parent
EXAMPLES = {
    "ja_legal_qa": ("ja_legal_qa.yaml", "ja_legal_qa_seeds.jsonl"),
    "en_support": ("en_support.yaml", "en_support_seeds.jsonl"),
}


def example_path(name: str) -> Path:
    """Path of a shipped example file, e.g. 'en_support.yaml' or 'en_support_seeds.jsonl'."""
    p = EXAMPLES_DIR / name
    if not p.is_file():
        raise ConfigError(f"no example named {name!r}; available: {', '.join(sorted(f for pair in EXAMPLES.values() for f in pair))}")
    return p
