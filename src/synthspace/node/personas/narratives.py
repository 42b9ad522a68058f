"""Persona narratives: short profile texts in the locale's language.

`template` (default) writes them from the attributes with a few sentence patterns, chosen per
persona so a set does not read as one sentence repeated. `llm` asks a generation backend
(`synthspace.node.generate.backends`, the same interface generation uses) through its
`complete_text(prompts, max_tokens, temperature)`; an empty completion falls back to the
template and is counted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from synthspace.node.personas.errors import NarrativeError

MODES = ("template", "llm", "none")


class TextBackend(Protocol):
    def complete_text(self, prompts: list[str], max_tokens: int = 256, temperature: float = 0.7) -> list[str]: ...


@dataclass
class NarrativeResult:
    texts: list[str]
    mode: str
    fallbacks: int = 0
    backend: dict[str, Any] | None = None


JA_WORK = {
    "学生": "現在は{education}で学ぶ学生",
    "就業者": "{occupation}として働いている",
    "求職者": "現在は仕事を探している",
    "退職者": "すでに仕事を引退している",
    "主婦・主夫": "家庭で家事を担っている",
}
JA_MARITAL = {"未婚": "独身", "有配偶": "既婚", "死別": "配偶者とは死別している", "離別": "離婚を経験している"}
JA_PATTERNS = [
    "{name}さんは{prefecture}に住む{age}歳の{sex}。{work}。最終学歴は{education}で、{marital}。",
    "{prefecture}在住の{name}さん（{age}歳・{sex}）は、{marital}。{work}。学歴は{education}。",
    "{region}の{prefecture}で暮らす{name}さんは{age}歳。{education}を経て、{work}。{marital_sentence}",
]
EN_WORK = {
    "student": "is currently a student",
    "employed": "is employed ({occupation_lower})",
    "unemployed": "is looking for work",
    "retired": "is retired",
    "homemaker": "keeps house for the family",
}
EN_PATTERNS = [
    "{name} is a {age}-year-old {sex_lower} living in {state}. {pronoun} {work}. {pronoun_pos} highest education is {education_lower}, and {pronoun_lower} is {marital_lower}.",
    "Living in {state} ({region}), {name}, {age}, {work}. {pronoun} is {marital_lower}; education: {education_lower}.",
    "{name} ({age}, {sex_lower}) lives in {state}. With {education_lower} behind {pronoun_obj}, {pronoun_lower} {work}.",
]


def _ja(row: dict[str, Any], i: int) -> str:
    sex_word = {"男性": "男性", "女性": "女性"}.get(str(row.get("sex")), str(row.get("sex") or ""))
    education = str(row.get("education") or "")
    work = JA_WORK.get(str(row.get("life_stage")), "{occupation}").format(
        education=education, occupation=row.get("occupation") or ""
    )
    marital = JA_MARITAL.get(str(row.get("marital_status")), str(row.get("marital_status") or ""))
    values = {
        "name": row.get("name") or "",
        "prefecture": row.get("prefecture") or "",
        "region": row.get("region") or "",
        "age": row.get("age") or "",
        "sex": sex_word,
        "work": work,
        "education": education,
        "marital": marital,
        "marital_sentence": (marital + "。") if marital.endswith("る") else f"{marital}である。",
    }
    return JA_PATTERNS[i % len(JA_PATTERNS)].format(**values)


def _en(row: dict[str, Any], i: int) -> str:
    female = str(row.get("sex")).lower() == "female"
    occupation = str(row.get("occupation") or "")
    work = EN_WORK.get(str(row.get("life_stage")).lower(), "is employed ({occupation_lower})").format(
        occupation_lower=occupation.lower()
    )
    values = {
        "name": row.get("name") or "",
        "state": row.get("state") or "",
        "region": row.get("region") or "",
        "age": row.get("age") or "",
        "sex_lower": str(row.get("sex") or "").lower(),
        "work": work,
        "education_lower": str(row.get("education") or "").lower(),
        "marital_lower": str(row.get("marital_status") or "").lower(),
        "pronoun": "She" if female else "He",
        "pronoun_lower": "she" if female else "he",
        "pronoun_pos": "Her" if female else "His",
        "pronoun_obj": "her" if female else "him",
    }
    return EN_PATTERNS[i % len(EN_PATTERNS)].format(**values)


def template_narratives(frame: pd.DataFrame, language: str) -> list[str]:
    """One template narrative per row, in `language` ('ja' or 'en')."""
    if language not in ("ja", "en"):
        raise NarrativeError(f"no narrative templates for language {language!r} (have: ja, en)")
    fn = _ja if language == "ja" else _en
    cols = list(frame.columns)
    return [fn(dict(zip(cols, values, strict=True)), i) for i, values in enumerate(frame.itertuples(index=False, name=None))]


def narrative_prompts(frame: pd.DataFrame, language: str) -> list[str]:
    """Prompts asking an LLM to write each persona's profile in the locale's language."""
    keys = ["name", "sex", "age", "prefecture", "state", "region", "marital_status", "education", "life_stage", "occupation"]
    present = [k for k in keys if k in frame.columns]
    prompts = []
    for rec in frame[present].astype(str).to_dict("records"):
        attrs = "\n".join(f"- {k}: {v}" for k, v in rec.items())
        if language == "ja":
            prompts.append(
                "次の属性を持つ架空の人物のプロフィールを、日本語で2〜3文で書いてください。"
                "実在の人物ではありません。属性にない個人情報（住所・電話番号など）は書かないでください。\n"
                f"{attrs}\nプロフィール:"
            )
        else:
            prompts.append(
                "Write a 2-3 sentence profile, in English, of a fictional person with these attributes. "
                "Do not invent contact details or other personal identifiers.\n"
                f"{attrs}\nProfile:"
            )
    return prompts


def llm_narratives(
    frame: pd.DataFrame,
    language: str,
    backend: TextBackend,
    max_tokens: int = 160,
    temperature: float = 0.7,
    batch_size: int = 32,
    progress: Callable[[int], None] | None = None,
) -> NarrativeResult:
    """Narratives written by `backend.complete_text`, batch by batch; empty answers fall back to the template."""
    prompts = narrative_prompts(frame, language)
    fallback = template_narratives(frame, language)
    texts: list[str] = []
    fallbacks = 0
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        try:
            answers = backend.complete_text(batch, max_tokens=max_tokens, temperature=temperature)
        except NarrativeError:
            raise
        except Exception as exc:  # a backend's own error class; report it as ours, with its message
            raise NarrativeError(f"the generation backend failed to write narratives: {exc}") from exc
        if not isinstance(answers, list) or len(answers) != len(batch):
            raise NarrativeError(
                f"the generation backend returned {len(answers) if isinstance(answers, list) else type(answers).__name__} "
                f"texts for {len(batch)} prompts"
            )
        for j, text in enumerate(answers):
            cleaned = str(text or "").strip()
            if not cleaned:
                fallbacks += 1
                cleaned = fallback[start + j]
            texts.append(cleaned)
        if progress is not None:
            progress(len(batch))
    info = getattr(backend, "info", None)
    described: dict[str, Any] = {"name": type(backend).__name__}
    if callable(info):
        try:
            gi = info()
            if dataclasses.is_dataclass(gi) and not isinstance(gi, type):
                described = dataclasses.asdict(gi)
            elif hasattr(gi, "model_dump"):
                described = gi.model_dump(mode="json")
        except Exception:  # describing the backend is best effort; the texts are what matter
            pass
    return NarrativeResult(texts, "llm", fallbacks, described)


def get_text_backend(name: str, **options: Any) -> TextBackend:
    """A generation backend by name. The backend registry is imported only when one is asked
    for (pyproject.toml exempts this file): importing the personas loads no generation stack,
    whose planning imports the personas, and torch loads only for the backend that needs it."""
    try:
        from synthspace.node.generate.backends import get_backend
    except ImportError as exc:
        raise NarrativeError(f"the generation backends are not available: {exc}") from None
    try:
        return get_backend(name, **options)
    except Exception as exc:
        raise NarrativeError(f"cannot start the {name!r} generation backend: {exc}") from exc


def write_narratives(
    frame: pd.DataFrame,
    language: str,
    mode: str,
    backend: TextBackend | None = None,
    progress: Callable[[int], None] | None = None,
    **llm_options: Any,
) -> NarrativeResult:
    """Narratives for every row in `mode` ('template', 'llm' or 'none')."""
    if mode == "template":
        texts = template_narratives(frame, language)
        if progress is not None:
            progress(len(texts))
        return NarrativeResult(texts, "template")
    if mode == "none":
        return NarrativeResult([""] * len(frame), "none")
    if mode == "llm":
        if backend is None:
            raise NarrativeError("--narratives llm needs a generation backend (e.g. --backend transformers)")
        return llm_narratives(frame, language, backend, progress=progress, **llm_options)
    raise NarrativeError(f"unknown narrative mode {mode!r}; choose one of {', '.join(MODES)}")

