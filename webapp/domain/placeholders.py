"""The placeholder grammar, in one place: ``{name}`` fills in a contact's field, ``{name|friend}``
fills it in or, when the recipient's field is missing or empty, the fallback after the bar.

Braces are for placeholders only, so every other brace is a slip to point out, with what and
where (in words: webapp/domain/composer_texts.py), never sent as typed nor emptied:
``{{name}}``, ``{name}}``, an unclosed ``{name``, an empty ``{}``, spaces around the name
(``{ name }``), a stray ``}``. The composer's check refuses
a text with slips, so rendering (here, and in SQL by :mod:`webapp.domain.recipients`) only ever
meets well-formed placeholders.

Parsing is linear (a regex finds the braces) and bounded by the caller: the composer parses a
text only up to :data:`webapp.domain.composer.TEXT_CHECK_LIMIT` characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from webapp.iqsms.parts import non_gsm7_chars

BRACE = re.compile(r"[{}]")
BREAK = re.compile(r"[{}\n]")  # what ends a placeholder's inside: a brace or a line break
SEPARATOR = "|"
MAX_SLIPS = 20  # slips reported for one text; past them the person has a pattern to fix


@dataclass(frozen=True, slots=True)
class Placeholder:
    """One well-formed placeholder: ``{name}`` or ``{name|fallback}``, at ``start:end``."""

    name: str
    fallback: str | None
    start: int
    end: int

    def value(self, fields: dict[str, Any]) -> str:
        """What it becomes for a recipient with these fields."""
        found = fields.get(self.name)
        text = "" if found is None else str(found)
        return text if text or self.fallback is None else self.fallback


@dataclass(frozen=True, slots=True)
class Slip:
    """A brace that is not a placeholder: what was typed at ``start``, and how to write it."""

    kind: str  # double, extra_close, unclosed, empty, spaces, no_name, stray_close
    raw: str
    start: int
    fix: str  # the placeholder meant, when it can be told ("" otherwise)


@dataclass(frozen=True)
class Parsed:
    """A text split into literal runs and placeholders, and the slips found in it."""

    text: str
    pieces: tuple[str | Placeholder, ...]
    slips: tuple[Slip, ...] = ()
    more_slips: int = 0  # slips past MAX_SLIPS, counted only
    names: tuple[str, ...] = field(default=())  # distinct field names, in order of appearance

    @property
    def placeholders(self) -> list[Placeholder]:
        return [p for p in self.pieces if isinstance(p, Placeholder)]

    @property
    def bare(self) -> str:
        """The literal text, without its placeholders: what every recipient gets besides them."""
        return "".join(p for p in self.pieces if isinstance(p, str))

    def render(self, fields: dict[str, Any] | None) -> str:
        fields = fields or {}
        return "".join(p if isinstance(p, str) else p.value(fields) for p in self.pieces)


def _spaces_fix(name: str, fallback: str | None) -> str:
    inner = name.strip() + ("" if fallback is None else SEPARATOR + fallback.strip())
    return "{" + inner + "}"


class _Slips:
    """The slips found in one text: the first MAX_SLIPS of them, and how many more."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.found: list[Slip] = []
        self.more = 0

    def add(self, kind: str, start: int, end: int, fix: str = "") -> None:
        if len(self.found) < MAX_SLIPS:
            self.found.append(Slip(kind, self.text[start:end], start, fix))
        else:
            self.more += 1


LEADING_NAME = re.compile(r"[^\W\d][\w-]*")


@lru_cache(maxsize=256)
def parse(text: str) -> Parsed:
    """Split ``text`` into literal runs and placeholders; collect its slips (cached: the
    check, the sample and the parts range parse the same text)."""
    pieces: list[str | Placeholder] = []
    slips = _Slips(text)
    literal_from = 0
    position = 0
    while (brace := BRACE.search(text, position)) is not None:
        start = brace.start()
        if brace.group() == "}":
            slips.add("stray_close", start, start + 1)
            position = start + 1
            continue
        if text.startswith("{{", start):
            position = _double(text, start, slips)
            continue
        close = BREAK.search(text, start + 1)
        if close is None or close.group() != "}":
            end = close.start() if close is not None else len(text)
            # What was meant is the name that starts there ({имя! Скидка… → {имя}), not all
            # the text up to the next brace.
            meant = LEADING_NAME.match(text, start + 1, end)
            fix = "{" + (meant.group() if meant else text[start + 1 : end].strip()) + "}"
            slips.add("unclosed", start, min(end, start + 40), fix)
            position = start + 1
            continue
        end = close.end()
        inner = text[start + 1 : close.start()]
        name, bar, fallback = inner.partition(SEPARATOR)
        fallback_or_none = fallback if bar else None
        if not inner.strip():
            slips.add("empty", start, end)
        elif not name.strip():
            slips.add("no_name", start, end)
        elif name != name.strip():
            slips.add("spaces", start, end, _spaces_fix(name, fallback_or_none))
        else:
            if start > literal_from:
                pieces.append(text[literal_from:start])
            pieces.append(Placeholder(name, fallback_or_none, start, end))
            literal_from = end
        position = _extra_closes(text, start, end, slips)
    if literal_from < len(text):
        pieces.append(text[literal_from:])
    names = tuple(dict.fromkeys(p.name for p in pieces if isinstance(p, Placeholder)))
    return Parsed(text, tuple(pieces), tuple(slips.found), slips.more, names)


def _double(text: str, start: int, slips: _Slips) -> int:
    """A ``{{`` at ``start``: a doubled placeholder (or an unclosed one); where to go on."""
    close = BREAK.search(text, start + 2)
    end = start + 2
    if close is not None and close.group() == "}":
        end = close.end() + (1 if text.startswith("}", close.end()) else 0)
        inner = text[start + 2 : close.start()].strip()
        slips.add("double", start, end, "{" + inner + "}" if inner else "")
    else:
        slips.add("unclosed", start, close.start() if close else len(text))
    return end


def _extra_closes(text: str, start: int, end: int, slips: _Slips) -> int:
    """Braces closing the placeholder ``text[start:end]`` again (``{name}}``); where to go on."""
    extra = end
    while text.startswith("}", extra):
        extra += 1
    if extra > end:
        slips.add("extra_close", start, extra, text[start:end])
    return extra


def names(text: str) -> list[str]:
    """The field names a text uses, in order of first appearance."""
    return list(parse(text or "").names)


def render(text: str, fields: dict[str, Any] | None) -> str:
    """The text with each placeholder replaced by the recipient's field, else its fallback,
    else nothing."""
    return parse(text or "").render(fields)


# -- the text as the composer's panel marks it ------------------------------------------------


def mark_ucs2(text: str) -> list[tuple[str, bool]]:
    """Split a text into runs, flagging the characters that force UCS-2 (for ``<mark>``).

    Placeholders are never sent as typed, so their names are not flagged: ``{Имя}`` does
    not make a Latin text UCS-2 (the values filled in may, which the sample shows); their
    fallbacks are sent, so they are.
    """
    parsed = parse(text)
    forcing = set(non_gsm7_chars(parsed.render({})))
    runs: list[tuple[str, bool]] = []

    def add(run: str, flag: bool) -> None:
        for ch in run:
            flagged = flag and ch in forcing
            if runs and runs[-1][1] == flagged:
                runs[-1] = (runs[-1][0] + ch, flagged)
            else:
                runs.append((ch, flagged))

    at = 0
    for piece in parsed.placeholders:
        add(text[at : piece.start], True)
        name_end = piece.start + 1 + len(piece.name)
        add(text[piece.start : name_end], False)
        add(text[name_end : piece.end - 1], True)  # "|fallback", sent as it is
        add("}", False)
        at = piece.end
    add(text[at:], True)
    return runs


def is_mostly_cyrillic(text: str) -> bool:
    """Whether most of a text's letters are Cyrillic: then UCS-2 is said once, not boxed."""
    letters = [ch for ch in text if ch.isalpha()]
    cyrillic = sum(1 for ch in letters if "\u0400" <= ch <= "\u04ff")
    return bool(letters) and cyrillic * 2 >= len(letters)
