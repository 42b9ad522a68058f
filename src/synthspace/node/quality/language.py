"""Language integrity of one text: is it in the expected language, and made of real words?

Japanese uses SudachiPy with the `sudachidict-core` dictionary (chosen by measurement over
fugashi + unidic-lite, see docs/gates.md): the share of the text's Japanese characters that sit
in out-of-vocabulary tokens, numerals excepted, and katakana runs that are not dictionary words
(Sudachi groups an unknown katakana run into one OOV token). English uses the `wordfreq` list:
the share of letters in words absent from it.

Japanese analysis is cached per script run (a maximal run of katakana, or of kanji), so the
cost over a large corpus grows with its vocabulary, not its length.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

# Scripts, after NFKC.
_KATAKANA = "\u30a1-\u30fa\u30fc\u30fd\u30fe"
_HIRAGANA = "\u3041-\u3096\u309d\u309e"
_KANJI = "\u3005\u3007\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff"
# Characters are counted as the summed length of maximal runs: findall over runs builds far
# fewer objects than one match per character (7x faster, same count).
_JA_CHARS = re.compile(f"[{_KATAKANA}{_HIRAGANA}{_KANJI}]+")
_LATIN = re.compile(r"[A-Za-z]")
_LETTER = re.compile(r"[^\W\d_]+")  # runs of letters of every script (kana and kanji included)
# Japanese analysis unit: a run of one script. Katakana and kanji runs are analysed (and
# cached: a corpus repeats its vocabulary, not its clauses); hiragana runs (particles,
# endings) are counted as Japanese but never analysed, Sudachi finds no unknown word in them.
_ANALYSED_RUN = re.compile(f"[{_KATAKANA}]+|[{_KANJI}]+")
_KATA_RUN = re.compile(f"[{_KATAKANA}]{{2,}}")
_EN_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_CLITICS = frozenset({"s", "t", "re", "ve", "ll", "d", "m"})
_SUFFIXES = ("ers", "er", "ing", "ed", "s", "es", "ly", "able", "ness", "ment")
_NUMERAL = re.compile("^[〇一二三四五六七八九十百千万億兆]+$")


def count_chars(runs: re.Pattern[str], text: str) -> int:
    """Characters of `text` inside matches of `runs` (a pattern of maximal one-class runs)."""
    return sum(map(len, runs.findall(text)))


@dataclass(frozen=True)
class LanguageScore:
    """What the language check measured on one text."""

    letters: int  # letter characters in any script
    target_letters: int  # letters of the expected language's scripts
    unknown_letters: int  # target letters inside unknown words
    unknown_words: int
    words: int

    @property
    def target_share(self) -> float:
        return self.target_letters / self.letters if self.letters else 1.0

    @property
    def unknown_share(self) -> float:
        return self.unknown_letters / self.target_letters if self.target_letters else 0.0


class Analyzer(Protocol):
    language: str

    def vocabulary(self, texts: Sequence[str]) -> frozenset[str]: ...

    def score(self, text: str, vocabulary: frozenset[str] = ...) -> LanguageScore: ...


class JapaneseAnalyzer:
    """Unknown-token share over Japanese runs, with SudachiPy (mode C) + sudachidict-core."""

    language = "ja"

    def __init__(self) -> None:
        from sudachipy import dictionary, tokenizer

        self._tok = dictionary.Dictionary(dict="core").create(tokenizer.Tokenizer.SplitMode.C)
        self.run_unknown = lru_cache(maxsize=500_000)(self._run_unknown)

    def vocabulary(self, texts: Sequence[str]) -> frozenset[str]:
        """Out-of-dictionary words that the recipe's own texts (seeds, prompt) use."""
        found: set[str] = set()
        for text in texts:
            for run in _ANALYSED_RUN.findall(text):
                found.update(self.run_unknown(run))
        return frozenset(found)

    def _run_unknown(self, run: str) -> tuple[str, ...]:
        """The unknown words (OOV tokens, numerals excepted) of one katakana or kanji run."""
        if len(run) > 10_000:  # Sudachi's input limit is ~48 KiB
            return tuple(
                w for i in range(0, len(run), 10_000) for w in self.run_unknown(run[i : i + 10_000])
            )
        return tuple(
            m.surface()
            for m in self._tok.tokenize(run)
            if m.is_oov() and not _NUMERAL.match(m.surface())
        )

    def score(self, text: str, vocabulary: frozenset[str] = frozenset()) -> LanguageScore:
        letters = count_chars(_LETTER, text)
        target = count_chars(_JA_CHARS, text)
        unknown_chars = unknown = 0
        for run in _ANALYSED_RUN.findall(text):
            for w in self.run_unknown(run):
                if w not in vocabulary:
                    unknown += 1
                    unknown_chars += len(w)
        return LanguageScore(letters, target, unknown_chars, unknown, 0)


class EnglishAnalyzer:
    """Share of letters in words missing from wordfreq's English list."""

    language = "en"

    def __init__(self) -> None:
        import wordfreq

        self._words = frozenset(wordfreq.get_frequency_dict("en", wordlist="best"))

    def known(self, word: str) -> bool:
        w = word.lower()
        if w in self._words:
            return True
        if "'" in w:
            return all(p in self._words or p in _CLITICS for p in w.split("'"))
        # Regular derivations of a listed word (descaler, restocking, unboxed).
        for suffix in _SUFFIXES:
            if w.endswith(suffix) and len(w) - len(suffix) >= 3:
                stem = w[: -len(suffix)]
                if stem in self._words or stem + "e" in self._words:
                    return True
        return w.startswith(("re", "un", "pre")) and w[2:] in self._words

    def vocabulary(self, texts: Sequence[str]) -> frozenset[str]:
        """Words the recipe's own texts (seeds, prompt) use: domain terms count as known."""
        return frozenset(w.lower() for t in texts for w in _EN_WORD.findall(t))

    def score(self, text: str, vocabulary: frozenset[str] = frozenset()) -> LanguageScore:
        letters = count_chars(_LETTER, text)
        target = unknown_chars = unknown = words = 0
        for m in _EN_WORD.finditer(text):
            w = m.group()
            words += 1
            target += len(w)
            # A capitalised word inside a sentence is a name (AuroraBoil, Nimbus): not judged.
            before = text[: m.start()].rstrip()
            if w[0].isupper() and before and before[-1] not in ".!?:\"'\n":
                continue
            if not self.known(w) and not _in(w.lower(), vocabulary):
                unknown += 1
                unknown_chars += len(w)
        return LanguageScore(letters, target, unknown_chars, unknown, words)


def _in(word: str, vocabulary: frozenset[str]) -> bool:
    """`word`, or it without a regular suffix, occurs in `vocabulary`."""
    if word in vocabulary:
        return True
    return any(
        word.endswith(x) and (word[: -len(x)] in vocabulary or word[: -len(x)] + "e" in vocabulary)
        for x in _SUFFIXES
    )


class GenericAnalyzer:
    """Locales without a lexicon: letters only, every word counted as known."""

    def __init__(self, language: str) -> None:
        self.language = language

    def vocabulary(self, texts: Sequence[str]) -> frozenset[str]:
        return frozenset()

    def score(self, text: str, vocabulary: frozenset[str] = frozenset()) -> LanguageScore:
        letters = count_chars(_LETTER, text)
        return LanguageScore(letters, letters, 0, 0, 0)


@lru_cache(maxsize=8)
def analyzer_for(locale: str | None) -> Analyzer:
    """The analyzer of a recipe locale (`ja_JP` -> Japanese); None/unknown -> generic."""
    language = (locale or "").split("_")[0].lower()
    if language == "ja":
        return JapaneseAnalyzer()
    if language == "en":
        return EnglishAnalyzer()
    return GenericAnalyzer(language or "und")
