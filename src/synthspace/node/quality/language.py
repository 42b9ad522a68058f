"""Language integrity of one text: is it in the expected language, and made of real words?

Japanese uses SudachiPy with the `sudachidict-core` dictionary (chosen by measurement over
fugashi + unidic-lite, see docs/gates.md): the share of the text's Japanese characters that sit
in out-of-vocabulary tokens, numerals excepted, and katakana runs that are not dictionary words
(Sudachi groups an unknown katakana run into one OOV token). English uses the `wordfreq` list:
the share of letters in words absent from it.

Analysis is cached per script run (a maximal run of katakana, of kanji+hiragana, of Latin
letters), so the cost over a large corpus grows with its vocabulary, not its length.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

# Scripts, after NFKC.
_KATAKANA = "\u30a1-\u30fa\u30fc\u30fd\u30fe"
_HIRAGANA = "\u3041-\u3096\u309d\u309e"
_KANJI = "\u3005\u3007\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff"
_JA_CHARS = re.compile(f"[{_KATAKANA}{_HIRAGANA}{_KANJI}]")
_LATIN = re.compile(r"[A-Za-z]")
_LETTER = re.compile(f"[A-Za-z{_KATAKANA}{_HIRAGANA}{_KANJI}]|[^\\W\\d_]")
# Japanese analysis unit: a run of Japanese characters (punctuation, digits and Latin split it).
_JA_RUN = re.compile(f"[{_KATAKANA}{_HIRAGANA}{_KANJI}]+")
_KATA_RUN = re.compile(f"[{_KATAKANA}]{{2,}}")
_EN_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_NUMERAL = re.compile("^[〇一二三四五六七八九十百千万億兆]+$")


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

    def score(self, text: str) -> LanguageScore: ...


class JapaneseAnalyzer:
    """Unknown-token share over Japanese runs, with SudachiPy (mode C) + sudachidict-core."""

    language = "ja"

    def __init__(self) -> None:
        from sudachipy import dictionary, tokenizer

        self._tok = dictionary.Dictionary(dict="core").create(tokenizer.Tokenizer.SplitMode.C)
        self.run_unknown = lru_cache(maxsize=500_000)(self._run_unknown)

    def _run_unknown(self, run: str) -> tuple[int, int, int]:
        """(unknown chars, unknown tokens, tokens) of one Japanese-script run."""
        if len(run.encode("utf-8")) > 40_000:  # Sudachi's input limit is ~48 KiB
            parts = [run[i : i + 10_000] for i in range(0, len(run), 10_000)]
            sums = [self.run_unknown(p) for p in parts]
            return (sum(s[0] for s in sums), sum(s[1] for s in sums), sum(s[2] for s in sums))
        unknown_chars = unknown = tokens = 0
        for m in self._tok.tokenize(run):
            surface = m.surface()
            tokens += 1
            if m.is_oov() and not _NUMERAL.match(surface):
                unknown += 1
                unknown_chars += len(surface)
        return unknown_chars, unknown, tokens

    def score(self, text: str) -> LanguageScore:
        letters = len(_LETTER.findall(text))
        unknown_chars = unknown = tokens = target = 0
        for run in _JA_RUN.findall(text):
            target += len(run)
            c, u, t = self.run_unknown(run)
            unknown_chars += c
            unknown += u
            tokens += t
        return LanguageScore(letters, target, unknown_chars, unknown, tokens)


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
            return all(
                p in self._words or p in ("s", "t", "re", "ve", "ll", "d", "m")
                for p in w.split("'")
            )
        return False

    def score(self, text: str) -> LanguageScore:
        letters = len(_LETTER.findall(text))
        target = unknown_chars = unknown = words = 0
        for w in _EN_WORD.findall(text):
            words += 1
            target += len(w)
            if not self.known(w):
                unknown += 1
                unknown_chars += len(w)
        return LanguageScore(letters, target, unknown_chars, unknown, words)


class GenericAnalyzer:
    """Locales without a lexicon: letters only, every word counted as known."""

    def __init__(self, language: str) -> None:
        self.language = language

    def score(self, text: str) -> LanguageScore:
        letters = len(_LETTER.findall(text))
        return LanguageScore(letters, letters, 0, 0, 0)


@lru_cache(maxsize=8)
def analyzer_for(locale: str | None) -> Any:
    """The analyzer of a recipe locale (`ja_JP` -> Japanese); None/unknown -> generic."""
    language = (locale or "").split("_")[0].lower()
    if language == "ja":
        return JapaneseAnalyzer()
    if language == "en":
        return EnglishAnalyzer()
    return GenericAnalyzer(language or "und")


def katakana_runs(text: str) -> list[str]:
    return _KATA_RUN.findall(text)


def is_japanese_char(ch: str) -> bool:
    return bool(_JA_CHARS.match(ch))


def latin_letters(text: str) -> int:
    return len(_LATIN.findall(text))


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)
