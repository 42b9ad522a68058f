"""RFC 8941 structured fields: the subset HTTP message signatures (RFC 9421) use.

Inner lists of strings, parameters with bare items (integer, decimal, string, token, byte
sequence, boolean), dictionaries of inner lists; strict, bounded, with named errors.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from synthspace.errors import HTTPSignatureError

MAX_HEADER_LENGTH = 8192


@dataclass(frozen=True)
class Token:
    """An RFC 8941 token (serialised without quotes)."""

    value: str


# A structured-field bare item value (RFC 8941): integer, string, token, byte sequence,
# boolean or decimal.
Bare = int | str | Token | bytes | bool | float
Params = list[tuple[str, Bare]]
_KEY_RE = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN_RE = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_NUM_RE = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,3})?")
# A well-formed string: printable ASCII but '"' and '\', or those two escaped. Anything else
# takes the character loop, which names the fault.
_STRING_RE = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"')
_ESCAPE_RE = re.compile(r"\\(.)")


class _Parser:
    def __init__(self, text: str, what: str) -> None:
        if len(text) > MAX_HEADER_LENGTH:
            raise HTTPSignatureError(f"{what} header is longer than {MAX_HEADER_LENGTH} characters")
        self.s, self.i, self.what = text, 0, what

    def fail(self, msg: str) -> HTTPSignatureError:
        return HTTPSignatureError(f"malformed {self.what} header: {msg} at character {self.i}")

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def skip(self, chars: str) -> None:
        s, i, n = self.s, self.i, len(self.s)
        while i < n and s[i] in chars:
            i += 1
        self.i = i

    def key(self) -> str:
        m = _KEY_RE.match(self.s, self.i)
        if not m:
            raise self.fail("expected a lowercase key")
        self.i = m.end()
        return m.group()

    def bare(self) -> Bare:
        c = self.peek()
        if c == '"':
            m = _STRING_RE.match(self.s, self.i)
            if m:  # (a signature header carries a dozen strings: one match, not a loop per character)
                self.i = m.end()
                text = m.group(1)
                return _ESCAPE_RE.sub(r"\1", text) if "\\" in text else text
            self.i += 1
            out = []
            while True:
                c = self.peek()
                if not c:
                    raise self.fail("unterminated string")
                self.i += 1
                if c == "\\":
                    nxt = self.peek()
                    if nxt not in ('"', "\\"):
                        raise self.fail("bad escape in string")
                    out.append(nxt)
                    self.i += 1
                elif c == '"':
                    return "".join(out)
                elif not (" " <= c <= "~"):
                    raise self.fail("non-ASCII or control character in string")
                else:
                    out.append(c)
        if c == ":":
            end = self.s.find(":", self.i + 1)
            if end < 0:
                raise self.fail("unterminated byte sequence")
            chunk = self.s[self.i + 1 : end]
            self.i = end + 1
            try:
                return base64.b64decode(chunk, validate=True)
            except (binascii.Error, ValueError):
                raise self.fail("bad base64 in byte sequence") from None
        if c == "?":
            if self.s[self.i + 1 : self.i + 2] in ("0", "1"):
                self.i += 2
                return self.s[self.i - 1] == "1"
            raise self.fail("bad boolean")
        if c == "-" or c.isdigit():
            m = _NUM_RE.match(self.s, self.i)
            if not m:
                raise self.fail("bad number")
            self.i = m.end()
            return float(m.group()) if m.group(1) else int(m.group())
        m = _TOKEN_RE.match(self.s, self.i)
        if m:
            self.i = m.end()
            return Token(m.group())
        raise self.fail("expected a value")

    def params(self) -> Params:
        out: Params = []
        while self.peek() == ";":
            self.i += 1
            self.skip(" ")
            k = self.key()
            v: Bare = True
            if self.peek() == "=":
                self.i += 1
                v = self.bare()
            if any(kk == k for kk, _ in out):
                raise self.fail(f"parameter {k!r} repeated")
            out.append((k, v))
        return out

    def member_value(self) -> tuple[Bare | list[tuple[Bare, Params]], Params]:
        if self.peek() == "(":
            self.i += 1
            items: list[tuple[Bare, Params]] = []
            while True:
                self.skip(" ")
                if self.peek() == ")":
                    self.i += 1
                    return items, self.params()
                item = self.bare()
                items.append((item, self.params()))
                if self.peek() not in (" ", ")"):
                    raise self.fail("expected a space or ')' in inner list")
        value = self.bare()
        return value, self.params()

    def dictionary(self) -> dict[str, tuple[Bare | list[tuple[Bare, Params]], Params]]:
        out: dict[str, tuple[Bare | list[tuple[Bare, Params]], Params]] = {}
        self.skip(" \t")
        if not self.peek():
            return out
        while True:
            k = self.key()
            if k in out:
                raise self.fail(f"member {k!r} repeated")
            if self.peek() == "=":
                self.i += 1
                out[k] = self.member_value()
            else:
                out[k] = (True, self.params())
            self.skip(" \t")
            if not self.peek():
                return out
            if self.peek() != ",":
                raise self.fail("expected ','")
            self.i += 1
            self.skip(" \t")
            if not self.peek():
                raise self.fail("trailing comma")


def _serialize_bare(v: Bare) -> str:
    if isinstance(v, Token):
        return v.value
    if isinstance(v, bool):
        return "?1" if v else "?0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        text = f"{v:.3f}".rstrip("0")
        return text + "0" if text.endswith(".") else text
    if isinstance(v, bytes):
        return ":" + base64.b64encode(v).decode("ascii") + ":"
    if not (v.isascii() and v.isprintable()):  # (printable ASCII is exactly " " .. "~")
        raise HTTPSignatureError(f"signature parameter value {v!r} is not printable ASCII")
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def serialize_signature_params(components: Sequence[str], params: Sequence[tuple[str, Bare]]) -> str:
    """The @signature-params value: inner list of component names, then ;key=value parameters."""
    inner = " ".join(_serialize_bare(c) for c in components)
    return f"({inner})" + "".join(f";{k}" if v is True else f";{k}={_serialize_bare(v)}" for k, v in params)


