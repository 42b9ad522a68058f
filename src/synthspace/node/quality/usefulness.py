"""Per-record usefulness: language integrity, degenerate output and grounding validators.

`UsefulnessChecker.reasons(record)` returns why a record is not usable data (empty = keep).
Reasons are `usefulness:<check>` (`usefulness:unknown_words`, `usefulness:placeholder`, ...)
or `grounding:<field>`. Thresholds: `UsefulnessConfig` (node/recipes/gates.py); docs/gates.md.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np

from synthspace.node.quality import degenerate as dg
from synthspace.node.quality.answer_grounding import GroundingCheck
from synthspace.node.quality.language import LanguageScore, analyzer_for, count_chars
from synthspace.node.quality.roles import RoleCheck
from synthspace.node.recipes.gates import UsefulnessConfig

# Unknown words a record needs before its unknown share counts: Sudachi's dictionary is large
# and splits unknown katakana into one token, so two are telling; English prose carries more
# rare-but-real words (brands, trade terms) than any list holds.
_MIN_UNKNOWN = {"ja": 2, "en": 3}
_MIN_LANGUAGE_LETTERS = 4  # shorter fields are too short to judge their language
_IDENTIFIER = re.compile(
    r"[A-Za-z]+_[A-Za-z0-9_]+"  # snake_case
    r"|(?<![A-Za-z])[a-z]{2,}(?:[A-Z][a-z]+)+\d*(?![A-Za-z])"  # camelCase (not iPhone, AuroraBoil)
    r"|(?<![\w.])[A-Za-z]{4,}\d+(?![\w.])"  # word glued to a number: example1, Combo11
)
_MARKUP_CHARS = "{}[]<>#*|\\^~=_@$/"
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_JA = re.compile("[\u3041-\u3096\u30a1-\u30fa\u30fc\u4e00-\u9fff\u3005]+")  # runs
# A sentence ends with one of these (optionally followed by closing quotes/brackets).
_JA_CUT = re.compile("[、,\u30a1-\u30fa\u30fcA-Za-z{}\\[<>|#*_=]\\s*$")
_FRAGMENT_START = re.compile(r"\s*[,.;:)}\]、。）」]")
# A comma or semicolon closed at once by a sentence end ("I will, ." / "CYCLE,!"): a clause
# the model began and left empty. Never in written prose; an ellipsis after a comma is kept.
_EMPTY_CLAUSE = re.compile(r"[,;、，；]\s*[.!?。！？](?![.…])")
_END = re.compile(r"[.!?。！？…:：)）」』\]\"'”’]\s*$")
_URL = re.compile(r"https?://\S+|www\.\S+")
# English function words: a sentence has at least one; a name or a label ("Alex Stone, Nimbus
# Kettle Co.") has none. Used only when a recipe sets `min_function_words`.
_EN_FUNCTION_WORDS = frozenset(
    """a an the i me my we us our you your he him his she her it its they them their this that
    these those is am are was were be been being do does did have has had will would can could
    shall should may might must not no to of in on at for with from by about as and or but if
    so than then there here what which who when where why how please let let's i'm i'll we'll
    we're you're it's that's can't don't won't""".split()
)


def _texts(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, (list, tuple, np.ndarray)):
        return [t for v in value for t in _texts(v)]
    return [unicodedata.normalize("NFKC", str(value))]


class UsefulnessChecker:
    """The per-record checks of one recipe: locale, text fields, prompt text, thresholds."""

    def __init__(
        self,
        cfg: UsefulnessConfig,
        locale: str | None,
        text_fields: Sequence[str],
        list_fields: Sequence[str],
        prompt_texts: Sequence[str],
        prose_fields: Sequence[str] | None = None,
        domain_texts: Sequence[str] = (),
    ) -> None:
        self.cfg = cfg
        self.text_fields = list(text_fields)
        self.prose_fields = set(self.text_fields if prose_fields is None else prose_fields)
        self.list_fields = set(list_fields)
        self.analyzer = analyzer_for(locale) if cfg.language else None
        language = self.analyzer.language if self.analyzer is not None else ""
        self.min_unknown = cfg.min_unknown_words or _MIN_UNKNOWN.get(language, 3)
        self.echo = dg.InstructionEcho(prompt_texts, cfg.instruction_min_chars)
        # Words of the seeds and prompt (product names, domain terms) count as known.
        self.vocabulary = (
            self.analyzer.vocabulary([*prompt_texts, *domain_texts])
            if self.analyzer is not None
            else frozenset()
        )

    def field_defects(
        self, text: str, prose: bool = True, score: LanguageScore | None = None
    ) -> str | None:
        c = self.cfg
        return (
            dg.placeholder(text)
            or dg.numeric_noise(text, c.max_digit_run, c.max_numeric_share)
            or dg.encoded_blob(text, c.min_hex_run, c.min_base64_run)
            or _markup(text)
            or (
                dg.near_empty(text, c.min_meaningful_chars)
                if score is None
                else ("near_empty" if score.letters < c.min_meaningful_chars else None)
            )
            or (self._shape(text, score) if prose else None)
            or (
                dg.shouting(text, c.uppercase_min_letters, c.max_uppercase_share)
                if prose and c.max_uppercase_share < 1
                else None
            )
        )

    def _shape(self, text: str, score: LanguageScore | None = None) -> str | None:
        """Prose fields: too few words, a fragment, a stuttered word (English), or cut off
        mid-sentence (no sentence end, or, in English, one after an article or conjunction)."""
        if _FRAGMENT_START.match(text):
            return "fragment"
        if _EMPTY_CLAUSE.search(text):
            return "empty_clause"
        language = self.analyzer.language if self.analyzer is not None else ""
        if language == "en":
            found = _WORD.findall(text)
            words = len(found)
            if words < self.cfg.min_words:
                return "too_short"
            if self.cfg.min_function_words and (
                sum(w.lower() in _EN_FUNCTION_WORDS for w in found) < self.cfg.min_function_words
            ):
                return "not_a_sentence"
            if stuttered := dg.stutter(text):
                return stuttered
            if words >= self.cfg.truncation_min_words and self.cfg.require_sentence_end:
                if not _END.search(text):
                    return "truncated"
                return dg.dangling_end(text)
            return None
        if language == "ja":
            chars = score.target_letters if score is not None else count_chars(_JA, text)
            if chars < self.cfg.min_words:
                return "too_short"
            # Japanese sentences may end without punctuation, but not on a comma, a
            # katakana/Latin fragment or a dangling particle-less noun run.
            cut = chars >= 4 * self.cfg.truncation_min_words and bool(_JA_CUT.search(text))
            return "truncated" if self.cfg.require_sentence_end and cut else None
        return None

    def reasons(self, record: dict[str, Any]) -> list[str]:
        """Why `record` is not usable (sorted, distinct); [] to keep it."""
        found: set[str] = set()
        all_texts: list[str] = []
        target = unknown = unknown_words = 0
        for name in self.text_fields:
            texts = _texts(record.get(name))
            if name in self.list_fields:
                if rep := dg.repeated_items(texts):
                    found.add(rep)
                if not texts:
                    found.add("near_empty")
            elif not texts:
                found.add("near_empty")
            for t in texts:
                score = self.analyzer.score(t, self.vocabulary) if self.analyzer else None
                if defect := self.field_defects(t, name in self.prose_fields, score):
                    found.add(defect)
                if score is not None:
                    if (
                        score.letters >= _MIN_LANGUAGE_LETTERS
                        and score.target_share < self.cfg.min_target_share
                    ):
                        found.add("wrong_language")
                    target += score.target_letters
                    unknown += score.unknown_letters
                    unknown_words += score.unknown_words
            all_texts.extend(texts)
        if (
            target
            and unknown / target > self.cfg.max_unknown_share
            and unknown_words >= self.min_unknown
        ):
            found.add("unknown_words")
        if rep := dg.repeated_sentence_or_clause(
            all_texts, self.cfg.repeat_min_chars, self.cfg.repeat_clause_min_chars
        ):
            found.add(rep)
        squashed = dg.squash("\n".join(all_texts))
        if echo := self.echo(squashed):
            found.add(echo)
        if rep := dg.self_repetition(squashed, self.cfg.repetition_ngram, self.cfg.max_repetition):
            found.add(rep)
        return sorted(f"usefulness:{r}" for r in found)


def _markup(text: str) -> str | None:
    """Code, JSON, URLs or identifiers where prose belongs."""
    compact = "".join(text.split())
    if not compact:
        return None
    if sum(compact.count(ch) for ch in _MARKUP_CHARS) / len(compact) > 0.08:
        return "markup"
    if _IDENTIFIER.search(text):
        return "identifier"
    if "http" not in text and "www." not in text:
        return None
    urls = sum(len(m) for m in _URL.findall(text))
    if urls and urls / len(compact) > 0.3:
        return "url"
    return None


class FaithfulnessChecker:
    """The recipe's answer-grounding and dialogue-role rules (`usefulness.answer_grounding`,
    `usefulness.roles`): reasons `usefulness:ungrounded`, `usefulness:contradiction`,
    `usefulness:role_swap`."""

    def __init__(
        self,
        cfg: UsefulnessConfig,
        locale: str | None,
        prompt_texts: Sequence[str],
        seeds: Sequence[dict[str, Any]],
    ) -> None:
        language = (locale or "en").split("_")[0]
        self.grounding = [GroundingCheck(r, language, prompt_texts) for r in cfg.answer_grounding]
        self.roles = [RoleCheck(r) for r in cfg.roles]
        self.seeds = list(seeds)
        self.unjudged = 0  # records answer grounding could not judge (no seeds)
        for g in self.grounding:
            g.prepare(self.seeds)

    def __bool__(self) -> bool:
        return bool(self.grounding or self.roles)

    def reasons(self, record: dict[str, Any], seed_index: int | None) -> list[str]:
        found: set[str] = set()
        for g in self.grounding:
            own = seed_index is not None and 0 <= seed_index < len(self.seeds)
            i = seed_index if own and g.rule.scope == "own" else g.best_seed(record, self.seeds)
            if i is None:
                self.unjudged += 1  # no seeds to compare with (`gate --records` without --seeds)
                continue
            found.update(f.kind for f in g.findings(record, self.seeds[i]))
        if any(r.swapped(record) for r in self.roles):
            found.add("role_swap")
        return sorted(f"usefulness:{r}" for r in found)
