"""Degenerate generated text: number/hex/base64 noise, template placeholders, the prompt's own
instructions copied back, sentences, clauses or list items repeated inside one record, prose in
capitals, a word stuttered or a sentence ending on an article, near-empty fields.

Every check takes NFKC-normalised text and returns the name of the defect or None; the
thresholds come from `UsefulnessConfig` (node/gates/config.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_DIGIT_RUN = re.compile(r"\d{10,}")
_ALNUM_RUN = re.compile(r"[0-9A-Za-z+/_\-]{12,}")
# Digits with the separators numbers are written with; a record made mostly of these is noise.
_NUMERIC_CHARS = "0123456789.:,-/+T"
_HEX_RUN = re.compile(r"(?<![0-9A-Za-z])(?:0x)?[0-9A-Fa-f]{12,}(?![0-9A-Za-z])")
_B64_RUN = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/_\-]{24,}={0,2}")
_PLACEHOLDER = re.compile(
    r"\{\{.*?\}\}|\{%.*?%\}|\{\s*\d+\s*\}|\{\s*[A-Za-z_][\w.]*\s*\}|\$\{\s*\w+\s*\}|\[\[\s*\w+\s*\]\]"
    r"|<\s*(?:placeholder|insert|your|name|answer|question)[^>]{0,30}>|\[(?:INSERT|YOUR|NAME|PLACEHOLDER)[^\]]{0,30}\]",
    re.IGNORECASE,
)
_SENTENCE_SPLIT = re.compile(r"(?<=[。！？!?.])\s*|\n+")
_CJK = re.compile("[\u3041-\u30ff\u4e00-\u9fff]")
_CLAUSE_SPLIT = re.compile(r"[、,;:：（）()「」]")
_MEANINGFUL = re.compile(r"[^\W\d_]+")  # runs: counted by summed length (fewer objects)
_SQUASH = re.compile(r"[\W_]+")
_CAPS_RUN = re.compile(r"\b[A-Z]{4,}(?:[\s,]+[A-Z]{4,}\b){2}")
_UPPER = re.compile("[A-Z]+")  # runs: Latin letters counted by summed length, as _MEANINGFUL
_LOWER = re.compile("[a-z]+")
# The same word twice in a row ("a library's calendar calendar"): a model stuttering. English
# has a few real doublings ("had had", "that that", "what it is is") and informal ones.
_STUTTER = re.compile(r"\b([A-Za-z]+)\s+\1\b", re.IGNORECASE)
_REAL_DOUBLINGS = frozenset(
    "had that is very really bye no so ha haha knock blah yada tut tsk hush chop".split()
)
# A sentence may end on a stranded preposition ("what it is for."), never on an article, a
# possessive determiner or a conjunction ("... cannot use a."): the model stopped mid-phrase.
# Nor on a conjunction after a comma (", so."), though "I think so." is fine. Lower case only
# ("Schedule A."), and not before an ellipsis, a deliberate trailing off. A preposition set off
# from the period by a space lost its object ("collects the wrong item from ."), which a
# stranded one ("log in.") never is. Nor is a subject pronoun a sentence of its own ("... to
# this issue. I."), though it may end one ("taller than I.").
_DANGLING_END = re.compile(
    r"(?:(?<![\w'’\-])(?:a|an|the|my|your|our|their|and|or|nor|than|because|whose)"
    r"|,\s*(?:so|but|which|while|although|whereas|if|unless|since|that|who))\s*[.!?](?![\w.])"
    r"|(?<![\w'’\-])(?:from|to|of|with|at|by|for|in|on|into|onto|about|via)\s+[.!?](?![\w.])"
    r"|(?:^|[.!?]\s+)(?:I|We|He|She|They)\s*[.!?](?![\w.])"
)


def squash(text: str) -> str:
    """Case-folded text without punctuation or spaces: what repeat and echo checks compare."""
    return _SQUASH.sub("", text.casefold())


def numeric_noise(text: str, max_digit_run: int, max_numeric_share: float) -> str | None:
    """Long digit runs, or a field made mostly of digits and number punctuation."""
    # Ten C-level counts: ~10x cheaper than translate() on non-ASCII text, the same number.
    digits = sum(map(text.count, "0123456789"))
    if digits < 4:  # neither check can fire on so few digits: skip the scans (most prose)
        return None
    for m in _DIGIT_RUN.finditer(text):
        if len(m.group()) > max_digit_run:
            return "digit_run"
    compact = "".join(text.split())
    if len(compact) >= 8:
        share = sum(compact.count(ch) for ch in _NUMERIC_CHARS) / len(compact)
        if share > max_numeric_share:
            return "numeric_noise"
    return None


def encoded_blob(text: str, min_hex: int, min_b64: int) -> str | None:
    """A hexadecimal or base64-looking run (mixed letters and digits, no spaces)."""
    if not _ALNUM_RUN.search(text):  # no run of 12+ ASCII word characters: nothing to look at
        return None
    for m in _HEX_RUN.finditer(text):
        run = m.group()
        if len(run) >= min_hex and any(c.isdigit() for c in run) and any(c.isalpha() for c in run):
            return "hex_run"
    for m in _B64_RUN.finditer(text):
        run = m.group()
        if len(run) < min_b64:
            continue
        digits = sum(c.isdigit() for c in run)
        upper = sum(c.isupper() for c in run)
        lower = sum(c.islower() for c in run)
        # Real long words/URLs are mostly lower-case letters; base64 mixes all three classes.
        if digits >= 2 and upper >= 2 and lower >= 2:
            return "base64_run"
    return None


def placeholder(text: str) -> str | None:
    if not any(ch in text for ch in "{[<$"):
        return None
    return "placeholder" if _PLACEHOLDER.search(text) else None


def sentences(text: str) -> list[str]:
    return [s for s in (p.strip() for p in _SENTENCE_SPLIT.split(text)) if s]


def repeated_sentence_or_clause(
    texts: Iterable[str], sentence_min_chars: int, clause_min_chars: int
) -> str | None:
    """`repeated_sentence`: a sentence of at least `sentence_min_chars` (squashed) that occurs
    twice in one record; else `repeated_clause`: a clause (text between commas, semicolons,
    colons or sentence ends) of at least `clause_min_chars` that occurs twice inside one text,
    a model looping on a phrase ("THIS IS HOW TO SAVE YOU THE CYCLE, ..., THIS IS HOW TO SAVE
    YOU THE CYCLE"). One pass: each text is split into sentences once for both."""
    sentence_seen: set[str] = set()
    clause_repeated = False
    for t in texts:
        clause_seen: set[str] = set()
        for sentence in sentences(t):
            key = squash(sentence)
            if len(key) >= sentence_min_chars:
                if key in sentence_seen:
                    return "repeated_sentence"
                sentence_seen.add(key)
            if clause_repeated:
                continue
            for clause in _CLAUSE_SPLIT.split(sentence):
                ckey = squash(clause)
                if len(ckey) >= clause_min_chars:
                    if ckey in clause_seen:
                        clause_repeated = True
                        break
                    clause_seen.add(ckey)
    return "repeated_clause" if clause_repeated else None


def shouting(text: str, min_letters: int, max_upper_share: float) -> str | None:
    """Prose written in capitals: of its Latin letters (at least `min_letters`), more than
    `max_upper_share` are upper case, or three capitalised words of 4+ letters in a row
    ("BILLING REPAYLOADS WELCOME!!!"). Acronyms and names keep ordinary prose far below half,
    and are rarely three long ones in a row."""
    upper = sum(map(len, _UPPER.findall(text)))
    if upper < 12 and upper <= max_upper_share * min_letters:  # ordinary prose: neither rule fires
        return None
    if _CAPS_RUN.search(text):
        return "shouting"
    letters = upper + sum(map(len, _LOWER.findall(text)))
    return "shouting" if letters >= min_letters and upper / letters > max_upper_share else None


def stutter(text: str) -> str | None:
    """English: a word written twice in a row, other than the doublings English allows."""
    for m in _STUTTER.finditer(text):
        if m.group(1).lower() not in _REAL_DOUBLINGS:
            return "stutter"
    return None


def dangling_end(text: str) -> str | None:
    """English: a sentence that ends on an article, a possessive or a conjunction, or on a
    preposition set off from its period by a space; a lone subject pronoun as a sentence."""
    return "dangling_end" if _DANGLING_END.search(text) else None


def repeated_items(items: Sequence[str]) -> str | None:
    """A list field whose items repeat (after squashing)."""
    keys = [squash(i) for i in items]
    keys = [k for k in keys if k]
    return "repeated_items" if len(keys) != len(set(keys)) else None


def self_repetition(squashed: str, n: int, max_share: float) -> str | None:
    """Text looping on itself: the share of its character n-grams that occur earlier in it."""
    total = len(squashed) - n + 1
    if total < 4 * n:
        return None
    distinct = len({squashed[i : i + n] for i in range(total)})
    return "repetitive" if 1 - distinct / total > max_share else None


def near_empty(text: str, min_meaningful: int) -> str | None:
    """Fewer than `min_meaningful` letters (any script)."""
    return "near_empty" if sum(map(len, _MEANINGFUL.findall(text))) < min_meaningful else None


class InstructionEcho:
    """The prompt's fixed instruction text (template outside Jinja tags, and the system
    message) split into sentences; a record that contains one of them copied it back."""

    def __init__(self, prompt_texts: Sequence[str], min_chars: int) -> None:
        literal: list[str] = []
        for t in prompt_texts:
            # Drop Jinja expressions/statements/comments: what is left is the fixed text.
            fixed = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", "\n", t, flags=re.S)
            for sentence in sentences(fixed):
                literal.append(sentence)
                literal.extend(_CLAUSE_SPLIT.split(sentence))
        keys = {squash(s) for s in literal}
        # CJK packs a word into one or two characters: half the length is as specific.
        self.phrases = sorted(
            k for k in keys if len(k) >= (min_chars + 1) // 2 * (1 if _CJK.search(k) else 2)
        )
        self._pattern = (
            re.compile("|".join(re.escape(p) for p in self.phrases)) if self.phrases else None
        )

    def __call__(self, squashed_record: str) -> str | None:
        if self._pattern is not None and self._pattern.search(squashed_record):
            return "instruction_echo"
        return None
