"""Person names and street addresses, English and Japanese (texts already NFKC-normalised).

English names: a courtesy title followed by capitalised words (``Dr. Jane Smith``), or a
given name from a list of common US given names (unambiguous ones only: no ``May``,
``Will``, ``Grace``) followed by a capitalised surname (``Michael Thompson``). A shipped CRF
(``probablepeople``) labels any capitalised pair as a name, which on product prose gives far
more false positives than the list; the list misses rare given names without a title.

Japanese names: SudachiPy's proper-noun categories (``名詞,固有名詞,人名,姓/名``): a surname
followed by a given name (``山田太郎``), or a surname / given name followed by an honorific
(``佐藤様``, ``花子さん``). A lone surname without an honorific is not flagged (it is
usually a company or place name too).

Addresses: a house number, capitalised street words and a street suffix (``1600 Pennsylvania
Avenue``); in Japanese a municipality (市区町村郡, optionally a prefecture before it) followed
by a 丁目/番地/hyphenated block number (``千代田区丸の内1丁目2-3``).

Canonical values are lower-cased names / whitespace-free addresses, so seed names and
addresses replayed in outputs are compared by value like every other PII type.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

# Common US given names (SSA top names), minus those that are also ordinary English words,
# months or place names a product text would capitalise.
_EN_GIVEN = frozenset(
    """
    james john robert michael david william richard joseph thomas charles christopher daniel
    matthew anthony donald steven paul andrew joshua kenneth kevin brian george timothy ronald
    edward jason jeffrey ryan jacob gary nicholas eric jonathan stephen larry justin scott
    brandon benjamin samuel gregory alexander patrick jack dennis jerry tyler aaron jose adam
    nathan henry zachary douglas peter kyle noah ethan jeremy walter christian keith roger
    terry austin sean gerald carl harold dylan arthur lawrence jordan jesse bryan billy bruce
    gabriel joe logan alan juan albert willie elijah wayne randy vincent liam mason lucas
    oliver aiden carlos luis marcus mary patricia jennifer linda elizabeth barbara susan
    jessica sarah karen lisa nancy betty sandra margaret ashley kimberly emily donna michelle
    carol amanda melissa deborah stephanie dorothy rebecca sharon laura cynthia amy kathleen
    angela shirley brenda emma anna pamela nicole samantha katherine christine helen debra
    rachel carolyn janet maria catherine heather diane olivia julie joyce victoria ruth
    virginia lauren kelly christina joan evelyn judith andrea hannah megan cheryl jacqueline
    martha madison teresa gloria sara janice ann kathryn abigail sophia frances jean alice
    judy isabella julia beverly denise marilyn amber danielle brittany diana natalie sophie
    charlotte ava mia harper ella chloe zoe lily aria layla nora riley zoey hazel ellie
    paisley audrey skylar claire lucy anthony kenji hiroshi yuki wei li chen priya raj
    ahmed mohammed fatima omar elena sofia miguel diego alejandro javier ana lucia
    """.split()
)
_TITLE = r"(?:Mr|Mrs|Ms|Mx|Miss|Dr|Prof|Professor|Judge|Attorney|Officer|Sgt|Capt)"
_CAP = r"[A-Z](?:[a-z]+(?:['\-][A-Z][a-z]+)?|'[A-Z][a-z]+)"
_SURNAME = rf"(?:Mc|Mac|O')?{_CAP}"
_EN_TITLED = re.compile(
    rf"(?<![A-Za-z]){_TITLE}\.? ({_SURNAME}(?: [A-Z]\.)?(?: {_SURNAME})?)(?![A-Za-z])"
)
# Two capitalised words right after a phrase that introduces a person ("I spoke to ...", "Dear
# ..."): a name whatever the given name, where a list of given names would miss it.
_EN_INTRODUCED = re.compile(
    rf"(?i:\b(?:spoke|talked|chatted|met) (?:to|with)|\bmy name is|\bask(?:ed)? for|\bdear|\bassigned to"
    rf"|\bhandled by|\bsigned by|\bcontact(?:ed)?|\bcc:?) +({_SURNAME} {_SURNAME})(?![A-Za-z])"
)
_EN_GIVEN_SURNAME = re.compile(rf"(?<![A-Za-z])([A-Z][a-z]+)( [A-Z]\.)? ({_SURNAME})(?![A-Za-z])")
# Capitalised words that follow a given name in ordinary text without being a surname.
_NOT_SURNAME = frozenset(
    """
    street st avenue ave road rd boulevard blvd lane drive court way place the and or of
    monday tuesday wednesday thursday friday saturday sunday january february march april
    may june july august september october november december inc llc ltd corp co company
    university college hospital school bank group team support service services center
    """.split()
)
_STREET_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl"
    r"|Terrace|Ter|Parkway|Pkwy|Circle|Cir|Highway|Hwy|Square|Sq|Trail|Trl|Plaza|Alley)"
)
_EN_ADDRESS = re.compile(
    rf"(?<![0-9A-Za-z.\-])[1-9][0-9]{{0,5}}[A-Z]? (?:[NSEW]\.? |North |South |East |West )?"
    rf"(?:[A-Z][a-z]+ |[1-9][0-9]{{0,2}}(?:st|nd|rd|th) ){{1,3}}{_STREET_SUFFIX}\.?"
    rf"(?:,? (?:Apt|Suite|Ste|Unit|#)\.? ?[0-9A-Z]{{1,5}})?(?![A-Za-z])"
)

_PREFECTURES = (
    "北海道|青森県|岩手県|宮城県|秋田県|山形県|福島県|茨城県|栃木県|群馬県|埼玉県|千葉県|東京都"
    "|神奈川県|新潟県|富山県|石川県|福井県|山梨県|長野県|岐阜県|静岡県|愛知県|三重県|滋賀県"
    "|京都府|大阪府|兵庫県|奈良県|和歌山県|鳥取県|島根県|岡山県|広島県|山口県|徳島県|香川県"
    "|愛媛県|高知県|福岡県|佐賀県|長崎県|熊本県|大分県|宮崎県|鹿児島県|沖縄県"
)
_JA_WORD = r"[\u4e00-\u9fff\u3005\u30f6\u30b1\u3041-\u3096\u30a1-\u30fa\u30fc]"
_HY = "[-\u2010-\u2015\u2212\u30fc\ufe63]"
_JA_ADDRESS = re.compile(
    rf"(?:(?:{_PREFECTURES}){_JA_WORD}{{0,8}}?[市区町村郡]|{_JA_WORD}{{1,6}}?[市区町村郡])"
    rf"{_JA_WORD}{{0,10}}?[0-9]{{1,4}}(?:丁目|番地|番|{_HY})[0-9]{{1,4}}"
    rf"(?:(?:番地?|号|{_HY})[0-9]{{0,4}}(?:号)?)?"
)
_HONORIFICS = frozenset(("さん", "様", "さま", "氏", "君", "くん", "ちゃん", "殿", "先生"))
_CJK = re.compile(r"[\u4e00-\u9fff\u3041-\u3096\u30a1-\u30fa]")


def _en_names(text: str) -> Iterator[tuple[int, int, str]]:
    for m in _EN_TITLED.finditer(text):
        name = m.group(1)
        if name.split()[0].lower() in _NOT_SURNAME:
            continue
        yield m.start(), m.end(), name.lower()
    for m in _EN_GIVEN_SURNAME.finditer(text):
        given, surname = m.group(1), m.group(3)
        if given.lower() in _EN_GIVEN and surname.lower() not in _NOT_SURNAME:
            yield m.start(), m.end(), m.group(0).lower()
    for m in _EN_INTRODUCED.finditer(text):
        name = m.group(1)
        first, last = name.split(" ", 1)
        if first.lower() not in _NOT_SURNAME and last.lower() not in _NOT_SURNAME:
            yield m.start(1), m.end(1), name.lower()


def _en_addresses(text: str) -> Iterator[tuple[int, int, str]]:
    for m in _EN_ADDRESS.finditer(text):
        yield m.start(), m.end(), " ".join(m.group(0).lower().replace(".", "").split())


class _JaNames:
    """SudachiPy (mode C, sudachidict-core) loaded once, with the POS ids the names need.

    Morphemes are compared by POS id rather than by building a POS tuple for each (the
    tuples cost more than the tokenisation on Japanese prose). Every thread gets its own
    tokenizer over the shared dictionary: a Sudachi tokenizer refuses concurrent calls, and
    `tokenize` releases the GIL, so threads tokenise in parallel. All fields are loaded:
    loading only `pos` changes how Sudachi joins numerals (``$60,206``), hence segmentation.
    """

    def __init__(self) -> None:
        from sudachipy import dictionary

        self._dict = dictionary.Dictionary()
        self._local = threading.local()
        person, given, surname = set(), set(), set()
        pos_id = 0
        while (pos := self._dict.pos_of(pos_id)) is not None:
            if pos[1] == "固有名詞" and pos[2] == "人名":
                person.add(pos_id)
                if pos[3] == "名":
                    given.add(pos_id)
                elif pos[3] == "姓":
                    surname.add(pos_id)
            pos_id += 1
        self.person = frozenset(person)
        self.given = frozenset(given)
        self.surname = frozenset(surname)

    @property
    def tok(self) -> Any:
        tok = getattr(self._local, "tok", None)
        if tok is None:
            tok = self._local.tok = self._dict.tokenizer("C")
        return tok


@lru_cache(maxsize=1)
def _sudachi() -> _JaNames:
    return _JaNames()


def _ja_names(text: str) -> Iterator[tuple[int, int, str]]:
    if not _CJK.search(text):
        return
    ja = _sudachi()
    # Sudachi refuses inputs over ~49,000 bytes: tokenise line by line, long lines in chunks.
    offset = 0
    for line in text.split("\n"):
        for c0 in range(0, max(len(line), 1), 4000):
            chunk = line[c0 : c0 + 4000]
            if chunk and _CJK.search(chunk):
                yield from _ja_names_chunk(ja, chunk, offset + c0)
        offset += len(line) + 1


def _ja_names_chunk(ja: _JaNames, chunk: str, base: int) -> Iterator[tuple[int, int, str]]:
    """Surname + given name, or a person-name morpheme + honorific, in one Sudachi pass."""
    ms = ja.tok.tokenize(chunk)
    pos = [m.part_of_speech_id() for m in ms]
    person = ja.person
    if person.isdisjoint(pos):  # most texts: no person-name morpheme at all
        return
    n = len(pos)
    i = 0
    while i < n:
        p = pos[i]
        if p in person:
            j = i + 1
            if p in ja.surname and j < n and pos[j] in ja.given:
                j += 1
            named = j - i == 2
            honorific = j < n and ms[j].surface() in _HONORIFICS
            if named or honorific:
                end = ms[j].end() if honorific else ms[j - 1].end()
                # Surfaces are the text's own characters between the morphemes' offsets.
                yield base + ms[i].begin(), base + end, chunk[ms[i].begin() : ms[j - 1].end()]
                i = j
                continue
        i += 1


# Every `_JA_ADDRESS` match holds a municipality character within its first 13 characters
# (a prefecture of at most 4 + 8 + 1, or 6 + 1) and ends at most 29 characters after it
# (10 + 4 + 2 + 4 + 2 + 4 + 1 + 1 + margin). The regex engine walks Japanese text at ~60 ns a
# character, so it runs only over windows around those characters (str.find is a C scan);
# the windows are merged, so the matches are exactly those of a scan over the whole text.
_MUNICIPAL = "市区町村郡"
_ADDR_BEFORE, _ADDR_AFTER = 14, 30


def _ja_addresses(text: str) -> Iterator[tuple[int, int, str]]:
    hits = []
    for ch in _MUNICIPAL:
        at = text.find(ch)
        while at >= 0:
            hits.append(at)
            at = text.find(ch, at + 1)
    if not hits:
        return
    hits.sort()
    windows: list[list[int]] = []
    for at in hits:
        lo, hi = max(0, at - _ADDR_BEFORE), at + _ADDR_AFTER
        if windows and lo <= windows[-1][1]:
            windows[-1][1] = max(windows[-1][1], hi)
        else:
            windows.append([lo, hi])
    for lo, hi in windows:
        for m in _JA_ADDRESS.finditer(text, lo, min(hi, len(text))):
            yield m.start(), m.end(), re.sub(_HY, "-", m.group(0))


def find_names_addresses(
    text: str, english: bool, japanese: bool, names: bool, addresses: bool
) -> Iterator[tuple[int, int, str, str]]:
    """(start, end, type, canonical value) of person names and street addresses."""
    if english:
        if names:
            for s, e, v in _en_names(text):
                yield s, e, "person_name", v
        if addresses:
            for s, e, v in _en_addresses(text):
                yield s, e, "street_address", v
    if japanese:
        if names:
            for s, e, v in _ja_names(text):
                yield s, e, "person_name", v
        if addresses:
            for s, e, v in _ja_addresses(text):
                yield s, e, "street_address", v
