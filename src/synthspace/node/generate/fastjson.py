"""`json.loads` without its per-call Python layers, for the two parses every record needs (the
chat completion and the record inside it).

`loads` returns exactly what `json.loads` returns and raises exactly what it raises: the fast
path is the standard library's own C scanner (the one `json.loads` ends in) applied at offset 0,
taken only when the text starts with the value and the value ends the text; anything else
(leading or trailing whitespace, a BOM, extra data, a syntax error, UTF-16/32 bytes) goes
through `json.loads` itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

_scan_once: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
# (the scanner of a decoder with json.loads' default settings)


def loads(text: str | bytes) -> Any:
    if isinstance(text, bytes):
        # json.loads decodes bytes as UTF-8 (surrogatepass) unless they start with a BOM or a
        # zero byte marks UTF-16/32: '{' or '[' then a non-zero byte rules both out.
        if len(text) < 2 or text[0] not in (0x7B, 0x5B) or not text[1]:
            return json.loads(text)
        s = text.decode("utf-8", "surrogatepass")
    else:
        s = text
    try:
        value, end = _scan_once(s, 0)
    except StopIteration:
        return json.loads(s)  # raises json's own error for text that does not start with a value
    if end != len(s):
        return json.loads(s)  # trailing whitespace (accepted) or extra data (raised)
    return value
