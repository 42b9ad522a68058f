"""Answer grounding: an output field must say only what the seed source it was prompted with says.

Declared in a recipe's `gates.usefulness.answer_grounding` (`AnswerGroundingRule`). Per record,
against the record's own seed (or the best-matching seed when the record has no seed index):

- numbers: every number in the field (digits, or English number words: `thirty`, `forty five`,
  `five thousand`; Japanese kanji numerals `三十`) must occur in the source or the context fields;
- names (English): a capitalised word inside a sentence (`California`, `Supreme Court`) or a
  jurisdiction word (`federal`, `constitution`, `state law`) must occur in the source, context
  or prompt;
- polarity (English): each sentence keeps the negation of the source sentence whose content
  words it shares most (`must` / `must not`, `may` / `may not`, `can` / `cannot`, `forbids`)
  and, where neither is negated, its force: an obligation (`must`, `shall`, `required`) is not
  told as a permission (`may`, `can`, `allows`) nor the other way round; a sentence that
  restates the source's exception (`except`, `unless`) is not compared;
- novel words (English): at most `max_novel_share` of the field's content words (stemmed, stop
  words aside) may be absent from the source, context and prompt;
- source words (English, `min_source_words`): the field brings at least that many content words
  of the source that its context lacks (a support reply that passes nothing on is not grounded);
- source words per sentence (English, `min_source_words_per_sentence`): each sentence of two or
  more content words holds that many of the source's (padding such as "This law is the law of
  the land." says nothing of it).

Failures are `ungrounded` (numbers, names, novel words) or `contradiction` (polarity); the
usefulness gate reports them as `usefulness:ungrounded` / `usefulness:contradiction`. Japanese:
only the number check applies (the others need English word boundaries and capitalisation).
Cheap: a few regular expressions per field, no model.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from synthspace.node.quality.grounding import field_text
from synthspace.node.recipes.gate_rules import AnswerGroundingRule

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|\d+(?:[.,]\d+)*")
_SENTENCE = re.compile(r"[^.!?;:\n]+")
_UNITS = {
    "zero": 0, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
# "one" alone is mostly a pronoun ("the one you bought"); it counts only before a scale word.
_TIMES = {"once": 1, "twice": 2, "thrice": 3}  # only as "once a year", "twice per month"
_CITE = frozenset(
    {"article", "articles", "section", "sections", "chapter", "paragraph", "clause", "art"}
)
_CITE_STEMS = frozenset({"articl", "sectio", "chapt", "paragr", "claus"})
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_NUMBER_WORDS = frozenset([*_UNITS, *_SCALES, *_TIMES, "one"])
_SUFFIXES = (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("er", ""), ("s", ""), ("ly", ""))
_KANJI_DIGITS = {"〇": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}  # fmt: skip
_KANJI_SCALES = {"十": 10, "百": 100, "千": 1000, "万": 10_000}
_CJK = re.compile("[\u3041-\u3096\u30a1-\u30fa\u30fc\u4e00-\u9fff\u3005]+")
_KANJI_NUMBER = re.compile("[〇一二三四五六七八九十百千万]+")
_NEGATORS = frozenset(
    "not n't cannot never no nor neither nobody nothing none forbid forbids forbidden forbidding "
    "prohibit prohibits prohibited prohibiting ban bans banned refuse refuses refused "
    "stop stops stopped bar bars barred prevent prevents prevented "
    "mustn't can't cannot won't don't doesn't didn't isn't aren't wasn't shouldn't".split()
)
# Content words an answer sentence must share with a source sentence to be compared with it.
_MIN_SHARED = 3
_RELATIVE = frozenset({"who", "that", "which"})
# Modal and auxiliary verbs: a source clause holding one makes a claim (see _source_clauses).
_CLAIM = frozenset(
    "must may can cannot shall should will would could might need needs is are was were be "
    "has have had does do did pays pay".split()
)
_AUX = frozenset({"does", "do", "did", "is", "are", "was", "were", "has", "have"})
_EXCEPTION = re.compile(r"\b(?:except|unless|apart from|other than)\b", re.IGNORECASE)
_INTERJECTION = re.compile(r"^\s*(?:yes|no)\s*,\s*", re.IGNORECASE)
# A condition, up to the comma or "then" that closes it: its negation is not the claim's.
_CONDITION = re.compile(r"\bif\b[^,;]*?(?=,|;|\bthen\b|$)", re.IGNORECASE)
# Jurisdiction words an answer about a given text has no business adding.
_JURISDICTION = re.compile(
    r"\b(?:federal|constitution(?:al)?|congress|parliament|senate|supreme|courts?"
    r"|state\s+(?:laws?|of|government|legislature)|national\s+law)\b",
    re.IGNORECASE,
)
_STOP = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing done down during each either else
    even ever every few for from further get gets got had has have having he her here hers him his
    how i if in into is it its itself just let lets like may me might more most much must my myself
    need needs no nor not now of off on once only or other our ours out over own per please same
    shall she should so some such than that the their theirs them then there these they this those
    through to too under until up upon us very was we were what when where whether which while who
    whom whose why will with within without would yes yet you your yours yourself s t ll re ve d m
    i'm i'll i've i'd it's that's there's you're you'll you've we're we'll we've they're don't
    says say said tell tells told okay ok""".split()
)


@dataclass(frozen=True)
class Finding:
    kind: str  # "ungrounded" | "contradiction"
    detail: str


def _words(text: str) -> list[str]:
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


def stem(word: str) -> str:
    """A crude English stem: one inflection or -er/-ly ending off, a final e off, then the
    first six letters (fined / fine, riding / ride / rider, disclose / disclosure)."""
    w = word.lower()
    if w.endswith("'s"):
        w = w[:-2]
    for suffix, repl in _SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: len(w) - len(suffix)] + repl
            break
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]
    return w[:6]


def content_stems(text: str) -> list[str]:
    """Stems of the content words: no stop words, numbers or number words (the number check
    judges those)."""
    return [
        stem(w)
        for w in _words(text)
        if not w[0].isdigit() and w not in _STOP and w not in _NUMBER_WORDS and len(w) > 1
    ]


Number = tuple[str, float]  # ("cite" | "qty", value)


def _match_terms(text: str) -> set[str]:
    """What a record shares with a seed: English content stems, CJK character bigrams and the
    numbers with their kind (so "第8条" points at Article 8)."""
    out = set(content_stems(text))
    for run in _CJK.findall(text):
        out.update(run[i : i + 2] for i in range(len(run) - 1))
    out.update(f"{kind}:{v:g}" for kind, v in numbers(text))
    return out


def numbers(text: str) -> set[Number]:
    """The numbers in `text`: digits, English number words (`forty five`, `five thousand`,
    `twice a`), kanji numerals. A number after `Article` / `Section` / `第` is a citation
    ("cite"), every other one a quantity ("qty"): "Article 7" never grounds "seven days"."""
    out: set[Number] = set()
    tokens = list(_WORD.finditer(text.replace("-", " ")))
    words = [m.group(0) for m in tokens]
    total = current = 0
    start = -1

    def kind(i: int) -> str:
        before = text[: tokens[i].start()].rstrip() if i < len(tokens) else ""
        prev = words[i - 1].lower() if i > 0 else ""
        return "cite" if prev in _CITE or before.endswith("第") else "qty"

    for i, raw in enumerate([*words, ""]):
        w = raw.lower()
        nxt = words[i + 1].lower() if i + 1 < len(words) else ""
        if w in _UNITS or (w == "one" and nxt in _SCALES):
            current += _UNITS.get(w, 1)
            start = i if start < 0 else start
            continue
        if w in _SCALES and start >= 0:
            current = max(current, 1) * _SCALES[w]
            if _SCALES[w] >= 1000:
                total, current = total + current, 0
            continue
        if w == "and" and start >= 0 and nxt in _UNITS:
            continue
        if start >= 0:
            out.add((kind(start), float(total + current)))
            total = current = 0
            start = -1
        if w in _TIMES and nxt in ("a", "an", "per", "every", "each"):
            out.add(("qty", float(_TIMES[w])))
        elif raw[:1].isdigit():
            try:
                out.add((kind(i), float(raw.replace(",", ""))))
            except ValueError:
                pass
    for m in _KANJI_NUMBER.finditer(text):
        if (value := _kanji_value(m.group(0))) is not None:
            out.add(("cite" if text[: m.start()].endswith("第") else "qty", float(value)))
    return out


def _kanji_value(run: str) -> int | None:
    if len(run) == 1 and run == "一":
        return None  # 一 alone is mostly "one (of)", "a", part of words (一部, 一般)
    total = section = digit = 0
    for ch in run:
        if ch in _KANJI_DIGITS:
            digit = digit * 10 + _KANJI_DIGITS[ch]
        elif ch == "万":
            total += (section + (digit or 0)) * 10_000 if (section or digit) else 10_000
            section = digit = 0
        else:
            section += (digit or 1) * _KANJI_SCALES[ch]
            digit = 0
    return total + section + digit


def _negated(clause: str) -> bool:
    """Odd number of negators, leaving out those of a short relative clause ("a rider who does
    not is fined": the rider is fined), of a condition ("if the parcel is not found, we send a
    new one": we send) and a leading "No," / "Yes,"."""
    words = _words(_CONDITION.sub(" ", _INTERJECTION.sub("", clause)))
    count = 0
    for i, w in enumerate(words):
        relative = i >= 2 and words[i - 2] in _RELATIVE and words[i - 1] in _AUX
        if (w in _NEGATORS or w.endswith("n't")) and not relative:
            count += 1
    return count % 2 == 1


# Deontic force of a plain (not negated) clause: "must disclose" told as "allows to disclose"
# (or "may advise" as "must advise") says something else, with the same words.
_OBLIGATION = frozenset({"must", "shall", "required", "requires", "obliged", "obligated"})
_PERMISSION = frozenset({"may", "can", "allow", "allows", "allowed", "permit", "permits", "permitted"})


def _force(clause: str) -> str | None:
    """'obligation' or 'permission' when the clause says only one of them, else None. A passive
    "may be stated" / "can be fined" tells what can happen to something, not what its subject
    is allowed to do, so it counts as neither."""
    words = _words(clause)
    must = any(w in _OBLIGATION for w in words)
    may = any(w in _PERMISSION and words[i + 1 : i + 2] != ["be"] for i, w in enumerate(words))
    return "obligation" if must and not may else "permission" if may and not must else None


def _has_negator(text: str) -> bool:
    return any(w in _NEGATORS or w.endswith("n't") for w in _words(text))


def _split_exception(sentence: str) -> tuple[str, str]:
    m = _EXCEPTION.search(sentence)
    return (sentence[: m.start()], sentence[m.end() :]) if m else (sentence, "")


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


class GroundingCheck:
    """One recipe rule, applied per record: `findings(record, seed)`."""

    def __init__(
        self, rule: AnswerGroundingRule, language: str, prompt_texts: Sequence[str] = ()
    ) -> None:
        self.rule = rule
        self.english = language == "en"
        self.allow = {a.lower() for a in rule.allow}
        self.allow_numbers = {v for a in rule.allow for v in numbers(a)}
        prompt = "\n".join(prompt_texts)
        self.prompt_words = set(_words(prompt))
        self.allow_stems = {stem(a) for a in rule.allow}
        self._n_seeds = -1
        self._index: dict[str, list[int]] = {}
        self._all_stems: set[str] = set()

    def prepare(self, seeds: Sequence[dict[str, Any]]) -> None:
        """Index the seeds' sources: term -> seeds holding it (best-matching seed), and every
        source's words (words of other sources)."""
        self._n_seeds = len(seeds)
        self._index = {}
        for i, seed in enumerate(seeds):
            for term in _match_terms(self.source(seed)):
                self._index.setdefault(term, []).append(i)
        self._all_stems = {t for s in seeds for t in content_stems(self.source(s))}

    def best_seed(self, record: dict[str, Any], seeds: Sequence[dict[str, Any]]) -> int | None:
        """The seed whose source shares the most terms with the field and its context (ties:
        the first); cost grows with the record's terms, not with the number of seeds."""
        if self._n_seeds != len(seeds):
            self.prepare(seeds)
        if not seeds:
            return None
        names = [self.rule.field, *self.rule.context_fields]
        scores: Counter[int] = Counter()
        for term in _match_terms("\n".join(field_text(record.get(f)) for f in names)):
            scores.update(self._index.get(term, ()))
        if not scores:
            return 0
        top = max(scores.values())
        return min(i for i, n in scores.items() if n == top)

    def source(self, seed: dict[str, Any] | None) -> str:
        if seed is None:
            return ""
        return "\n".join(field_text(seed.get(f)) for f in self.rule.source_fields)

    def findings(self, record: dict[str, Any], seed: dict[str, Any] | None) -> list[Finding]:
        text = field_text(record.get(self.rule.field))
        if not text.strip():
            return []
        source = self.source(seed)
        context = "\n".join(field_text(record.get(f)) for f in self.rule.context_fields)
        out: list[Finding] = []
        r = self.rule
        if r.numbers:
            extra = numbers(text) - _cached_numbers(source) - numbers(context) - self.allow_numbers
            if extra:
                shown = ", ".join(f"{v:g}" for _, v in sorted(extra))
                out.append(Finding("ungrounded", f"number {shown} not in the source"))
        if not self.english:
            return out
        given_words = _cached_words(source) | set(_words(context)) | self.prompt_words | self.allow
        text_stems = content_stems(text)
        context_stems = set(content_stems(context))
        known = _cached_stems(source) | context_stems | self.allow_stems
        if r.names:
            names = [n for n in _names(text) if n.lower() not in given_words]
            names += [
                m.group(0)
                for m in _JURISDICTION.finditer(text)
                if not all(w in given_words for w in _words(m.group(0)))
            ]
            if names:
                out.append(Finding("ungrounded", f"names not in the source: {', '.join(names)}"))
        if r.max_novel_share is not None:
            if share := _novel_share(text, known, r.min_content_words):
                if share > r.max_novel_share:
                    out.append(
                        Finding("ungrounded", f"{share:.0%} of content words not in the source")
                    )
        if r.min_source_words is not None:
            brought = (set(text_stems) & _cached_stems(source)) - context_stems - self.allow_stems
            if len(brought) < r.min_source_words:
                out.append(
                    Finding(
                        "ungrounded",
                        f"{len(brought)} content words from the source "
                        f"(at least {r.min_source_words})",
                    )
                )
        if r.min_source_words_per_sentence is not None:
            if padding := _sentence_without_source(
                text, _cached_stems(source) - self.allow_stems, r.min_source_words_per_sentence
            ):
                out.append(Finding("ungrounded", f"a sentence holds nothing of the source: {padding!r}"))
        if r.max_foreign_words is not None and self._all_stems:
            foreign = [w for w in text_stems if w not in known and w in self._all_stems]
            if len(foreign) > r.max_foreign_words:
                out.append(Finding("ungrounded", f"words of other sources: {', '.join(foreign)}"))
        if r.polarity and source:
            if clash := _contradiction(text, source):
                out.append(Finding("contradiction", clash))
        return out


def _sentence_without_source(text: str, source: frozenset[str] | set[str], least: int) -> str | None:
    """The first sentence of two or more content words holding fewer than `least` distinct
    content words of `source`; None when every sentence holds enough."""
    for sentence in _sentences(text):
        stems = content_stems(sentence)
        if len(stems) >= 2 and len(set(stems) & source) < least:
            return sentence
    return None


def _novel_share(text: str, known: frozenset[str] | set[str], min_words: int) -> float:
    """The largest share of content words not in `known`, over the whole field and over each
    sentence of at least `min_words` content words (one invented sentence in a faithful
    answer counts); 0 when the field is too short to judge."""
    shares = []
    for part in [text, *_sentences(text)]:
        stems = content_stems(part)
        if len(stems) >= min_words:
            shares.append(sum(s not in known for s in stems) / len(stems))
    return max(shares, default=0.0)


def _names(text: str) -> list[str]:
    """Capitalised words that are not the first word of a sentence (nor `I`)."""
    out: list[str] = []
    for sentence in _sentences(text):
        words = _WORD.findall(sentence)
        for w in words[1:]:
            if w[:1].isupper() and w not in ("I", "I'm", "I'll", "I've", "I'd"):
                out.append(w)
    return out


def _clause_terms(clause: str) -> set[str]:
    """Content stems and quantities (`five thousand` and `5000` are one term); citations
    ("Article 8") say which text is meant, not what it says, and are left out."""
    terms = {t for t in content_stems(clause) if t not in _CITE_STEMS}
    return terms | {f"#{v:g}" for kind, v in numbers(clause) if kind == "qty"}


# A run has few distinct sources and many records: what is read from a source is cached.
@lru_cache(maxsize=4096)
def _cached_numbers(text: str) -> frozenset[Number]:
    return frozenset(numbers(text))


@lru_cache(maxsize=4096)
def _cached_words(text: str) -> frozenset[str]:
    return frozenset(_words(text))


@lru_cache(maxsize=4096)
def _cached_stems(text: str) -> frozenset[str]:
    return frozenset(content_stems(text))


@lru_cache(maxsize=4096)
def _source_clauses(source: str) -> tuple[tuple[set[str], set[str], bool, str], ...]:
    out = []
    for s in _sentences(source):
        main, exc = _split_exception(s)
        # Only a clause that states something has a polarity: a title ("Fictional Electric
        # Scooter Traffic Act, Article 8") shares words with every answer and says nothing.
        if _CLAIM & set(_words(main)) or _negated(main):
            out.append((_clause_terms(main), _clause_terms(exc), _negated(main), s))
    return tuple(out)


def _contradiction(text: str, source: str) -> str | None:
    src = _source_clauses(source)
    for sentence in _sentences(text):
        main, exc = _split_exception(sentence)
        stems = _clause_terms(main)
        shared = [len(stems & x[0]) for x in src]
        top = max(shared, default=0)
        if top < _MIN_SHARED:
            continue  # too little in common to say which source sentence it restates
        best = [x for x, n in zip(src, shared, strict=True) if n == top]
        if len({x[2] for x in best}) > 1:
            continue  # ties between a negated and a plain source sentence: ambiguous
        s_main, s_exc, s_neg, s_text = best[0]
        # Restating the source's exception ("may share it to protect a life") flips the
        # main clause's polarity legitimately.
        if not exc and s_exc and stems & (s_exc - s_main):
            continue
        if _negated(main) != s_neg:
            return f"{'negates' if not s_neg else 'drops the negation of'} {s_text[:60]!r}"
        # "may not" forbids like "must not" (and "may not ... without" like "must not ...
        # without"): the force is compared only where neither clause has a negator at all.
        said, source_force = _force(main), _force(_split_exception(s_text)[0])
        if said and source_force and said != source_force and not _has_negator(main + " " + s_text):
            return f"turns the {source_force} of {s_text[:60]!r} into a {said}"
    return None


__all__ = ["Finding", "GroundingCheck", "content_stems", "numbers", "stem"]
