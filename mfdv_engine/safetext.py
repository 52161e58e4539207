"""Text from a project file, made safe to show.

A project file is data from whoever sent it. A run name, message, description,
config string, row field or gallery key may hold terminal escapes (``\\x1b[2J``
clears the screen, OSC 0 ``\\x1b]0;…\\x07`` sets the window title, OSC 52
``\\x1b]52;c;…\\x07`` writes the clipboard; C1 ``\\x9b`` is a one-byte CSI) or
bidi overrides that make text read differently from what it is (U+202E).
Every string from a file goes through :func:`printable` before it reaches a
terminal, a log or a Qt widget: those characters are shown as escapes
(``\\x1b``, ``\\u202e``); everything else (accents, Greek, CJK, emoji) is kept
as is. Backslashes are not doubled: this is for display, not a round-trip
encoding (``--json`` output is that, and ``json.dumps`` escapes on its own).
"""
from __future__ import annotations

import re
from typing import Any

__all__ = ["printable"]

# C0 controls, DEL, C1 controls, the bidi marks / embeddings / overrides / isolates,
# the Unicode line and paragraph separators, and lone surrogates (undecodable bytes
# of a file name under surrogateescape, which cannot even be encoded for output).
_OTHERS = r"\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_ONE_LINE = re.compile(r"[\x00-\x1f" + _OTHERS + "]")
_MULTILINE = re.compile(r"[\x00-\x09\x0b-\x1f" + _OTHERS + "]")   # keeps \n
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(ch: str) -> str:
    if ch in _SHORT:
        return _SHORT[ch]
    cp = ord(ch)
    return f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}"


def printable(text: Any, *, limit: int | None = None, multiline: bool = False) -> str:
    """``text`` with every control, bidi and separator character shown escaped.

    ``multiline`` keeps ``\\n`` (for tooltips, details, reports); other controls,
    ``\\r`` and ``\\t`` included, are always escaped. ``limit`` caps the result at
    that many characters (ending in "…"), never cutting an escape in half.
    Anything not a string is shown as ``str(text)``.
    """
    if not isinstance(text, str):
        text = str(text)
    pat = _MULTILINE if multiline else _ONE_LINE
    out = pat.sub(lambda m: _escape(m.group()), text) if pat.search(text) else text
    if limit is not None and len(out) > limit:
        out = _truncate(text, pat, max(limit - 1, 0)) + "…"
    return out


def _truncate(text: str, pat: re.Pattern, room: int) -> str:
    parts, used = [], 0
    for ch in text:
        piece = _escape(ch) if pat.fullmatch(ch) else ch
        if used + len(piece) > room:
            break
        parts.append(piece)
        used += len(piece)
    return "".join(parts)

