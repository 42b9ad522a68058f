"""PII detection with validation, Japanese formats first.

Every detector is a candidate regular expression followed by a validator (check digit,
`phonenumbers`, `ipaddress`...). Texts are NFKC-normalised first, so full-width digits and
hyphens are covered by the same patterns. No pattern relies on `\\b`: Japanese text has no
spaces, and `\\b` sees no boundary between a kanji and a digit. Boundaries are instead
explicit digit / ASCII look-arounds, so 「電話03-1234-5678まで」 and 「番号123456789018です」
are found.

Canonical values (digits only, E.164 phones, lower-case e-mails and names) are what PII
replay compares; they never leave the node. Recognisers follow the recipe's locale.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, cast, get_args

import numpy as np

from synthspace.node.privacy.pii_checksums import (
    _digits,
    card_valid,
    corporate_number_valid,
    iban_valid,
    my_number_valid,
    ssn_valid,
)
from synthspace.node.privacy.pii_names import find_names_addresses
from synthspace.node.privacy.pii_windows import candidate_windows
from synthspace.node.privacy.text import blocks, pii_form
from synthspace.node.workers import thread_map, worker_count

PiiType = Literal[
    "email",
    "phone",
    "my_number",
    "corporate_number",
    "payment_card",
    "postal_code",
    "ip_address",
    "ssn",
    "iban",
    "person_name",
    "street_address",
]
PII_TYPES: tuple[PiiType, ...] = get_args(PiiType)

# Hyphen-like characters left after NFKC (U+2010 hyphen, dashes, minus, katakana long vowel
# mark which Japanese text often uses inside phone numbers).
_HY = "[-\u2010-\u2015\u2212\u30fc\ufe63]"
_SEP = rf"(?:{_HY}|[ .])"
_SEP_NODOT = rf"(?:{_HY}| )"
_ND = r"(?<![0-9])"  # not preceded by a digit
# not preceded by a digit group either ("1234-" before a 12-digit run is part of a longer number)
_NDG = rf"(?<![0-9])(?<![0-9]{_SEP_NODOT})"
_NA = r"(?![0-9])"  # not followed by a digit

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9](?:[A-Za-z0-9._%+\-]{0,62}[A-Za-z0-9_%+\-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9\-])"
)
_PHONE_JP = re.compile(
    rf"(?<![0-9+]){_ND}(?:\(0[0-9]{{1,4}}\) ?[0-9]{{1,4}}{_SEP_NODOT}?"
    rf"|0[0-9]{{1,4}}(?:{_SEP_NODOT}|\(|\) ?)?[0-9]{{1,4}}(?:{_SEP_NODOT}|\) ?)?)"
    rf"[0-9]{{3,4}}{_NA}"
)
_PHONE_INTL = re.compile(
    rf"(?<![0-9A-Za-z+])\+[0-9]{{1,3}}(?:{_SEP_NODOT}?\(?[0-9]{{1,5}}\)?){{1,5}}{_NA}"
)
_MY_NUMBER = re.compile(rf"{_NDG}[0-9]{{4}}({_SEP_NODOT}?)[0-9]{{4}}\1[0-9]{{4}}(?![0-9]|\1[0-9])")
_CORPORATE = re.compile(
    rf"{_ND}[0-9]{{13}}{_NA}|{_NDG}[0-9](?:({_SEP_NODOT})[0-9]{{4}}){{3}}(?![0-9]|\1[0-9])"
)
_CARD = re.compile(
    rf"{_NDG}(?:[0-9]{{4}}({_SEP_NODOT})[0-9]{{4}}\1[0-9]{{4}}\1[0-9]{{1,7}}"
    rf"|[0-9]{{4}}({_SEP_NODOT})[0-9]{{6}}\2[0-9]{{4,5}}|[0-9]{{13,19}}){_NA}"
)
_POSTAL = re.compile(
    rf"(?:〒|郵便番号|postal code|zip code|zip)[:： ]*([0-9]{{3}}){_HY}?([0-9]{{4}}){_NA}",
    re.IGNORECASE,
)
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = re.compile(rf"(?<![0-9.]){_OCTET}(?:\.{_OCTET}){{3}}(?![0-9]|\.[0-9])")
_IPV6 = re.compile(
    r"(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|:)(?![0-9A-Za-z:])"
)

# North American numbers: (415) 555-2671, 212-736-5000, 646.555.0199, +1 415 555 2671.
# A bare 10-digit run is not taken (article and order numbers look the same).
_PHONE_NANP = re.compile(
    r"(?<![0-9+])(?:(?:\+1|1)[ .\-]?)?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}([ .\-]))"
    r"[2-9][0-9]{2}(?(1)\1|[ .\-])[0-9]{4}(?![0-9]|[.\-][0-9])"
)
_SSN = re.compile(r"(?<![0-9\-])([0-9]{3})([- ])([0-9]{2})\2([0-9]{4})(?![0-9]|-[0-9])")
_SSN_BARE = re.compile(r"(?<![0-9])[0-9]{9}(?![0-9])")
_ZIP = re.compile(
    r"(?<![A-Za-z])(?:A[LKZR]|C[AOT]|D[EC]|FL|GA|HI|I[DLNA]|K[SY]|LA|M[EDAINSOT]|N[EVHJMYCD]"
    r"|O[HKR]|PA|RI|S[CD]|T[NX]|UT|V[TA]|W[AVIY]|PR),? ([0-9]{5})(?:-([0-9]{4}))?(?![0-9])"
)
_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])"
)

# Context words that must stand before a number whose format alone is too weak (a random
# 13-digit run passes the corporate-number check digit one time in nine, a 12-digit run the
# individual-number check one time in eleven, and dotted number runs parse as IPv4).
_CTX_CORPORATE = re.compile(
    r"(?:法人番号|法人|会社番号|登録番号|corporate|company (?:no|number))", re.I
)
_CTX_MY_NUMBER = re.compile(r"(?:マイナンバー|個人番号|my ?number|individual number)", re.I)
_CTX_SSN = re.compile(r"(?:ssn|social security|ss#|社会保障)", re.I)
_CTX_IP = re.compile(
    r"(?:\bip\b|ipv[46]|address|addr|host|server|client|connect|login|logged|access|from|via"
    r"|gateway|router|firewall|アドレス|接続|サーバ|ホスト|端末|アクセス|ログ)",
    re.I,
)
_CTX_PHONE = re.compile(
    r"(?:電話|携帯|連絡|番号|tel|phone|fax|call|mobile|cell|ファックス|ファクス)", re.I
)
_VERSIONISH = re.compile(r"(?:v|ver|version|バージョン|release|build)[ .:]*$", re.I)
_RESERVED_EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "example.jp")
_RESERVED_EMAIL_SUFFIXES = (".example", ".test", ".invalid", ".localhost")
_DOC_NETS = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)


@dataclass(frozen=True)
class PiiFinding:
    """One validated PII occurrence. `value` is canonical and must stay on the node."""

    doc: int
    type: PiiType
    start: int
    end: int
    value: str
    reserved: bool  # documentation/example value (example.com, 192.0.2.x): not personal


@lru_cache(maxsize=65536)
def _phone_e164(candidate: str, region: str) -> str | None:
    import phonenumbers

    try:
        num = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def _email(m: re.Match[str]) -> tuple[PiiType, str, bool] | None:
    value = m.group(0).lower()
    domain = value.rsplit("@", 1)[1]
    reserved = (
        domain in _RESERVED_EMAIL_DOMAINS
        or domain.endswith(_RESERVED_EMAIL_SUFFIXES)
        or any(domain.endswith("." + d) for d in _RESERVED_EMAIL_DOMAINS)
    )
    return "email", value, reserved


def _phone_jp(m: re.Match[str]) -> tuple[PiiType, str, bool] | None:
    d = _digits(m.group(0))
    if len(d) not in (10, 11):
        return None
    # Bare 10/11-digit runs starting with 0 are common in model noise: they need a label.
    if not (_separated(m) or _context(m, _CTX_PHONE, 24)):
        return None
    e164 = _phone_e164(d, "JP")
    return ("phone", e164, False) if e164 else None


def _phone_intl(m: re.Match[str]) -> tuple[PiiType, str, bool] | None:
    d = _digits(m.group(0))
    if not 8 <= len(d) <= 15:
        return None
    e164 = _phone_e164("+" + d, "ZZ")
    return ("phone", e164, False) if e164 else None


def _context(m: re.Match[str], pattern: re.Pattern[str], before: int = 32, after: int = 0) -> bool:
    """Does `pattern` occur within `before` characters ahead of the match (same document)?"""
    s = m.string
    lo = max(0, m.start() - before)
    head = s[lo : m.start()].rsplit("\x00", 1)[-1]
    tail = s[m.end() : m.end() + after].split("\x00", 1)[0] if after else ""
    return bool(pattern.search(head) or (tail and pattern.search(tail)))


def _separated(m: re.Match[str]) -> bool:  # digits with separators, not one bare run
    return not m.group(0).isdigit()


def _my_number(m: re.Match[str]) -> tuple[PiiType, str, bool] | None:
    d = _digits(m.group(0))
    if not my_number_valid(d):
        return None
    # A bare 12-digit run needs a label: random digit strings pass the check one time in 11.
    if not (_separated(m) or _context(m, _CTX_MY_NUMBER)):
        return None
    return "my_number", d, False


def _corporate(m: re.Match[str]) -> tuple[PiiType, str, bool] | None:
    d = _digits(m.group(0))
    if not corporate_number_valid(d):
        return None
    # Qualified-invoice numbers are the corporate number behind a "T"; otherwise a label.
    s = m.string
    if not ((m.start() > 0 and s[m.start() - 1] in "Tt") or _context(m, _CTX_CORPORATE)):
        return None
    return "corporate_number", d, False


def _phone_nanp(m: re.Match[str], region: str) -> tuple[PiiType, str, bool] | None:
    d = _digits(m.group(0))
    d = d[1:] if len(d) == 11 else d
    if len(d) != 10:
        return None
    e164 = _phone_e164(d, region)
    if e164 is None and (m.group(0)[0] in "(+" or _context(m, _CTX_PHONE)):
        e164 = "+1" + d  # NANP-shaped and written or labelled as a phone: unassigned codes too
    return ("phone", e164, False) if e164 else None


def _ssn(m: re.Match[str]) -> tuple[PiiType, str, bool] | None:
    if not ssn_valid(m.group(1), m.group(3), m.group(4)):
        return None
    # Space-separated 3-2-4 digits are common in other numbers: they need a label.
    if m.group(2) == " " and not _context(m, _CTX_SSN):
        return None
    return "ssn", m.group(1) + m.group(3) + m.group(4), False


def _ssn_bare(m: re.Match[str]) -> tuple[PiiType, str, bool] | None:
    d = m.group(0)
    if not _context(m, _CTX_SSN) or not ssn_valid(d[:3], d[3:5], d[5:]):
        return None
    return "ssn", d, False


def _zip(m: re.Match[str]) -> tuple[PiiType, str, bool] | None:
    return "postal_code", m.group(1) + (m.group(2) or ""), False


def _iban(m: re.Match[str]) -> tuple[PiiType, str, bool] | None:
    v = m.group(0).replace(" ", "")
    return ("iban", v, False) if iban_valid(v) else None


def _card(m: re.Match[str]) -> tuple[PiiType, str, bool] | None:
    d = _digits(m.group(0))
    if corporate_number_valid(d):
        return None  # a 13-digit corporate number is reported as that, not as a card
    return ("payment_card", d, False) if card_valid(d) else None


def _postal(m: re.Match[str]) -> tuple[PiiType, str, bool] | None:
    return "postal_code", m.group(1) + m.group(2), False


def _ip(m: re.Match[str]) -> tuple[PiiType, str, bool] | None:
    try:
        ip = ipaddress.ip_address(m.group(0))
    except ValueError:
        return None
    if ip.version == 4:
        # Dotted number runs (versions, section numbers, model gibberish) parse as IPv4:
        # an address needs a word around it that says so, and no version marker before it.
        head = m.string[max(0, m.start() - 12) : m.start()]
        if _VERSIONISH.search(head) or not _context(m, _CTX_IP, 48, 24):
            return None
    reserved = (
        ip.is_loopback
        or ip.is_unspecified
        or ip.is_multicast
        or any(ip.version == n.version and ip in n for n in _DOC_NETS)
    )
    return "ip_address", ip.compressed, reserved


_Validator = Callable[[re.Match[str]], "tuple[PiiType, str, bool] | None"]
_Locale = Literal["universal", "ja", "en"]
# (recogniser set, type, candidate pattern, validator); "universal" ones run in every locale.
_DETECTORS: tuple[tuple[_Locale, PiiType, re.Pattern[str], _Validator], ...] = (
    ("universal", "email", _EMAIL, _email),
    ("universal", "phone", _PHONE_INTL, _phone_intl),
    ("universal", "payment_card", _CARD, _card),
    ("universal", "iban", _IBAN, _iban),
    ("universal", "ip_address", _IPV4, _ip),
    ("universal", "ip_address", _IPV6, _ip),
    ("ja", "phone", _PHONE_JP, _phone_jp),
    ("ja", "my_number", _MY_NUMBER, _my_number),
    ("ja", "corporate_number", _CORPORATE, _corporate),
    ("ja", "postal_code", _POSTAL, _postal),
    ("en", "phone", _PHONE_JP, lambda m: _phone_jp(m) if _separated(m) else None),
    ("en", "ssn", _SSN, _ssn),
    ("en", "ssn", _SSN_BARE, _ssn_bare),
    ("en", "postal_code", _POSTAL, _postal),
)


def locale_sets(locale: str | None) -> tuple[frozenset[str], str]:
    """Recogniser sets and phone region for a recipe locale (``ja_JP``, ``en_US``...).

    None keeps the historical behaviour: universal + Japanese, phones read as JP. Any other
    language gets the universal set plus its own when one exists.
    """
    if locale is None:
        return frozenset(("universal", "ja")), "JP"
    lang, _, region = locale.replace("-", "_").partition("_")
    sets = {"universal"}
    if lang in ("ja", "en"):
        sets.add(lang)
    return frozenset(sets), (region.upper() or {"ja": "JP", "en": "US"}.get(lang, "ZZ"))


def _detectors_for(
    locale: str | None, wanted: set[PiiType]
) -> list[tuple[PiiType, re.Pattern[str], _Validator]]:
    sets, region = locale_sets(locale)
    out = [(t, p, v) for s, t, p, v in _DETECTORS if s in sets and t in wanted]
    if "en" in sets and "phone" in wanted:
        nanp = region if region in ("US", "CA") else "US"
        out.append(("phone", _PHONE_NANP, lambda m: _phone_nanp(m, nanp)))
    return out


def find_pii(
    texts: Sequence[str],
    types: Iterable[PiiType] = PII_TYPES,
    already_normalised: bool = False,
    locale: str | None = None,
) -> list[PiiFinding]:
    """Validated PII findings in `texts` (document index = position in `texts`).

    The texts are joined (NUL between documents, which no pattern crosses); locator patterns
    find the few windows that can hold PII, the strict detectors run on those windows, and
    match offsets are mapped back to documents with one `searchsorted`.
    """
    wanted = set(types)
    norm = list(texts) if already_normalised else [pii_form(t) for t in texts]
    detectors = _detectors_for(locale, wanted)
    findings: list[PiiFinding] = []
    for b0, b1 in blocks([len(t) for t in norm]):
        findings.extend(_find_block(norm[b0:b1], b0, detectors))
    findings.extend(_find_text_level(norm, locale, wanted))
    return _dedupe_overlaps(findings)


def _find_text_level(
    norm: Sequence[str], locale: str | None, wanted: set[PiiType]
) -> list[PiiFinding]:
    """Recognisers that are not anchored on long digit runs: US ZIP codes after a state,
    person names and street addresses (see `pii_names`). Texts are split over threads:
    the Japanese name recogniser spends its time in SudachiPy, which releases the GIL."""
    sets, _ = locale_sets(locale)
    en, ja = "en" in sets, "ja" in sets
    names, addresses = "person_name" in wanted, "street_address" in wanted
    zips = en and "postal_code" in wanted
    if not (zips or names or addresses):
        return []

    def texts_range(lo: int, hi: int) -> list[PiiFinding]:
        out: list[PiiFinding] = []
        for doc in range(lo, hi):
            text = norm[doc]
            if zips:
                for m in _ZIP.finditer(text):
                    r = _zip(m)
                    if r:
                        out.append(PiiFinding(doc, r[0], m.start(), m.end(), r[1], r[2]))
            for s, e, t, v in find_names_addresses(text, en, ja, names, addresses):
                out.append(PiiFinding(doc, cast(PiiType, t), s, e, v, False))
        return out

    # Threads only pay where Sudachi runs (Japanese names); each text is independent.
    workers = worker_count(len(norm)) if ja and names else 1
    return thread_map(texts_range, len(norm), workers)


def _find_block(
    norm: Sequence[str], offset: int, detectors: list[tuple[PiiType, re.Pattern[str], _Validator]]
) -> list[PiiFinding]:
    joined = "\x00".join(norm)
    raw: list[tuple[int, int, PiiType, str, bool]] = []
    for ws, we in candidate_windows(joined):
        # Searching the joined string between pos/endpos (not a slice) lets the strict
        # patterns' look-behinds see the characters before the window.
        for _, pattern, validate in detectors:
            for m in pattern.finditer(joined, ws, we):
                r = validate(m)
                if r:
                    raw.append((m.start(), m.end(), *r))
    if not raw:
        return []
    raw.sort(key=lambda x: x[0])
    lengths = np.fromiter((len(t) + 1 for t in norm), dtype=np.int64, count=len(norm))
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    mstarts = np.fromiter((x[0] for x in raw), dtype=np.int64, count=len(raw))
    docs = np.searchsorted(starts, mstarts, side="right") - 1
    out = []
    for (s, e, t, value, reserved), doc in zip(raw, docs.tolist(), strict=True):
        base = int(starts[doc])
        out.append(PiiFinding(offset + doc, t, s - base, e - base, value, reserved))
    return out


def _dedupe_overlaps(findings: list[PiiFinding]) -> list[PiiFinding]:
    """One finding per overlapping span: the longest wins, then detector priority order."""
    seen: dict[int, list[tuple[int, int]]] = {}
    out: list[PiiFinding] = []
    order = sorted(
        range(len(findings)),
        key=lambda i: (findings[i].doc, -(findings[i].end - findings[i].start), i),
    )
    for f in (findings[i] for i in order):
        spans = seen.setdefault(f.doc, [])
        if any(f.start < e and s < f.end for s, e in spans):
            continue
        spans.append((f.start, f.end))
        out.append(f)
    out.sort(key=lambda f: (f.doc, f.start))
    return out
