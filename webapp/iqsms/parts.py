"""SMS part counting: GSM 03.38 7-bit or UCS-2, and how many billed parts a text takes.

The gateway bills per part, so this is shared by the dashboard (estimates, the live counter) and
the sandbox (charging), and both must agree with the operator's rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The GSM 03.38 basic character set (one septet each).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each takes an escape septet plus its own, so counts as two.
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

# Regexes do the per-character work in C: the sandbox counts parts of every message it receives.
_NON_GSM7 = re.compile("[^" + re.escape("".join(sorted(GSM7_BASIC | GSM7_EXTENSION))) + "]")
_EXTENSION = re.compile("[" + re.escape("".join(sorted(GSM7_EXTENSION))) + "]")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67

# The most parts one message may take. The provider's page names no limit; the SMS standard's
# concatenation header counts parts in one byte (3GPP TS 23.040 9.2.3.24.1: at most 255), but
# operators and handsets do not reliably join that many (Twilio refuses bodies over 1,600
# characters, about 10 parts), and 200 messages of the longest text must still make one
# send.json body well under the 4 MB the sandbox takes: 10 UCS-2 parts are 670 UTF-16 units,
# at most 2 KB of UTF-8 each, 400 KB for 200. Ten parts: 1,530 GSM-7 characters, 670 UCS-2.
MAX_PARTS = 10


@dataclass(frozen=True, slots=True)
class TextInfo:
    """How a text will travel: its encoding, its length in that encoding's units, and parts."""

    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets for GSM-7, 16-bit code units for UCS-2
    parts: int
    per_part: int  # the capacity of each part for this text
    remaining: int  # units left in the last part before another part is needed
    ucs2_chars: tuple[str, ...]  # the distinct characters that forced UCS-2, in order of appearance


def non_gsm7_chars(text: str) -> tuple[str, ...]:
    """The distinct characters that are not in GSM 03.38, in order of first appearance."""
    return tuple(dict.fromkeys(_NON_GSM7.findall(text)))


def analyse(text: str) -> TextInfo:
    """Encoding, length and part count of a text, by the operator's rules."""
    ucs2_chars = non_gsm7_chars(text)
    if not ucs2_chars:
        units = len(text) + len(_EXTENSION.findall(text))
        single, per_part, encoding = GSM7_SINGLE, GSM7_PART, "GSM-7"
    else:
        # Characters outside the Basic Multilingual Plane take a surrogate pair.
        units = len(text.encode("utf-16-le")) // 2
        single, per_part, encoding = UCS2_SINGLE, UCS2_PART, "UCS-2"
    if units <= single:
        parts, capacity = (1 if units else 0), single
        remaining = single - units
    else:
        parts, remaining = _segment(text, encoding, per_part)
        capacity = per_part
    return TextInfo(encoding, units, parts, capacity, remaining, ucs2_chars)


def _segment(text: str, encoding: str, per_part: int) -> tuple[int, int]:
    """Parts of a multipart text and the room left in the last one.

    An escaped GSM-7 character or a UCS-2 surrogate pair cannot be split between two parts, so a
    part may end one unit short and the count can exceed ``ceil(units / per_part)``.
    """
    double = GSM7_EXTENSION.__contains__ if encoding == "GSM-7" else (lambda ch: ord(ch) > 0xFFFF)
    parts, used = 1, 0
    for ch in text:
        cost = 2 if double(ch) else 1
        if used + cost > per_part:
            parts, used = parts + 1, 0
        used += cost
    return parts, per_part - used


def count_parts(text: str) -> int:
    """Billed parts of a text (an empty text takes none)."""
    return analyse(text).parts
