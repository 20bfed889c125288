"""Numbers pasted into a box (a list's, the stop list's, the composer's): how many lines one
paste may hold, and what became of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from flask_babel import ngettext

from webapp import texts
from webapp.formatting import count
from webapp.phones import split_pasted

CHUNK = 5000  # pasted phones per statement
# Lines one paste may hold (contacts, the stop list, the composer): more is a CSV upload.
MAX_PASTED_LINES = 10_000


@dataclass
class AddReport:
    """What happened to numbers given to a list or the stop list."""

    added: int = 0
    duplicates: int = 0
    # (what was given, why it is not a phone)
    invalid: list[tuple[str, str]] = field(default_factory=list)


def pasted_lines_error(text: str | None) -> str:
    """Why pasted numbers are too many to read at once, or "" when they are not."""
    lines = len((text or "").strip().splitlines())
    if lines <= MAX_PASTED_LINES:
        return ""
    return ngettext(
        "Paste at most %(count)s line at a time; this has %(lines)s. Paste the rest separately, "
        "or upload them as a CSV file.",
        "Paste at most %(count)s lines at a time; this has %(lines)s. Paste the rest separately, "
        "or upload them as a CSV file.",
        MAX_PASTED_LINES,
        count=count(MAX_PASTED_LINES),
        lines=count(lines),
    )


def add_all(text: str, region: str, add: Callable[[list[str]], int]) -> AddReport:
    """Split pasted text and give its phones to ``add`` (5,000 at a time, returning how many
    went in): the report of added, already there, and not phones with the reason."""
    report = AddReport()
    phones: list[str] = []
    for item in split_pasted(text, region):
        if item.phone is None:
            report.invalid.append((item.given, texts.shown(item.reason)))
        else:
            phones.append(item.phone)
    for start in range(0, len(phones), CHUNK):
        chunk = phones[start : start + CHUNK]
        added = add(chunk)
        report.added += added
        report.duplicates += len(chunk) - added
    return report
