"""Time zones: a team reads and enters every time in its own zone; the database keeps UTC.

Every conversion of a team's time goes through here: its zone (UTC when the stored name is
empty or unknown), a local date and time to UTC, UTC to the team's zone, and the zones a form
offers, by offset and place in the page's language (``(UTC+03:00) Москва``). The text a page
shows for a time is :func:`webapp.formatting.team_time`'s.
"""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, available_timezones

from babel import Locale
from babel.core import get_global
from babel.dates import get_timezone_location

from webapp.models import Team

ENGLISH = Locale("en")


def team_zone(team: Team) -> ZoneInfo:
    """The team's zone; UTC when its name is empty or not known here."""
    # Checked against the zones known here rather than by trying: an unknown name makes
    # zoneinfo search the tzdata package, which some installed import hooks warn about.
    name = team.timezone or "UTC"
    return ZoneInfo(name if name in _known() else "UTC")


def local_to_utc(day: date, at: time, team: Team) -> datetime:
    """A date and time as the team reads them (its time zone), as an aware UTC datetime."""
    return datetime.combine(day, at.replace(tzinfo=None), tzinfo=team_zone(team)).astimezone(UTC)


def in_team_zone(when: datetime | None, team: Team) -> datetime | None:
    """A UTC time as the team reads it (None stays None)."""
    return when.astimezone(team_zone(team)) if when is not None else None


def iso_in_zone(when: datetime | None, zone: ZoneInfo) -> str:
    """A UTC time in ``zone`` as files write it: ``2026-05-01T14:30:05+03:00``; "" for none."""
    return when.astimezone(zone).isoformat(timespec="seconds") if when is not None else ""


@cache
def _known() -> frozenset[str]:
    # zoneinfo also looks for the tzdata package, which some installed import hooks warn about.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImportWarning)
        return frozenset(available_timezones())


# The areas of the tz database's zones named for a place; the rest are UTC, Etc/GMT+3,
# EST5EDT and the like, and the backward-compatible names (US/Eastern, W-SU) that CLDR lists as
# aliases of a zone offered under its own name.
PLACES = frozenset(
    {"Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe"}
    | {"Indian", "Pacific"}
)


@cache
def offered() -> tuple[str, ...]:
    """The zones a form offers: every place's zone known here under its current name (an
    alias only where this machine lacks the current one), and UTC."""
    aliases: dict[str, list[str]] = {}
    for alias, name in get_global("zone_aliases").items():
        aliases.setdefault(name, []).append(alias)
    known = _known()
    chosen = {"UTC"} if "UTC" in known else set()
    for name in known | aliases.keys():
        if name.split("/")[0] not in PLACES or name in get_global("zone_aliases"):
            continue
        present = [z for z in (name, *sorted(aliases.get(name, ()))) if z in known]
        if present:
            chosen.add(present[0])
    return tuple(sorted(chosen))


def offset_text(offset: timedelta | None, short: bool = False) -> str:
    """An offset from UTC as the zone picker writes it: ``UTC+03:00``, ``UTC-09:30``; as
    people type it with ``short``: ``UTC+3``, ``UTC-9:30``."""
    minutes = int((offset or timedelta()).total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    if short:
        return f"UTC{sign}{hours}" + (f":{minutes:02d}" if minutes else "")
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def label(name: str, locale: Locale, at: datetime) -> str:
    """A zone as the picker shows it, by its offset at ``at`` and its city in ``locale``'s
    language: ``(UTC+03:00) Moscow``, ``(UTC+03:00) Москва``; UTC by its full name."""
    zone = ZoneInfo(name)
    return f"({offset_text(at.astimezone(zone).utcoffset())}) {place(name, locale)}"


def short_label(name: str, locale: Locale, at: datetime) -> str:
    """A zone as a page names the one its times are in: ``Москва, UTC+3``; ``UTC``."""
    if name == "UTC":
        return name
    offset = at.astimezone(ZoneInfo(name)).utcoffset()
    return f"{place(name, locale)}, {offset_text(offset, short=True)}"


def place(name: str, locale: Locale) -> str:
    """A zone's city in ``locale``'s language (``Москва``); UTC by its full name."""
    if name == "UTC":
        return locale.time_zones.get("Etc/UTC", {}).get("long", {}).get("standard", name)
    try:
        return get_timezone_location(ZoneInfo(name), locale=locale, return_city=True)
    except LookupError:  # an alias Babel does not know: its tz database name
        return name


def search_text(name: str, locale: Locale) -> str:
    """What else finds a zone in the picker's filter: its country in ``locale``'s language
    and in English, and its tz database name (``Россия Russia Europe/Moscow``)."""
    territory = get_global("zone_territories").get(name, "")
    names = {locale.territories.get(territory, ""), ENGLISH.territories.get(territory, "")}
    return " ".join([*sorted(n for n in names if n), name])


@lru_cache(maxsize=8)
def _choices(language: str, hour: datetime) -> tuple[tuple[str, str, str], ...]:
    from webapp.formatting import collation_key  # formatting reads zones from here

    locale = Locale.parse(language)
    rows = [
        (hour.astimezone(ZoneInfo(n)).utcoffset(), label(n, locale, hour), n) for n in offered()
    ]
    rows.sort(key=lambda row: (row[0], collation_key(row[1])))
    return tuple(
        (n, text, f"{search_text(n, locale)} {offset_text(offset, short=True)}")
        for offset, text, n in rows
    )


def choices(locale: Locale, now: datetime, keep: str | None = None) -> list[tuple[str, str, str]]:
    """The zones a form offers as (name, label, search text), by their offset at ``now`` (to
    the hour), then by place: ``(UTC+03:00) Moscow``. ``keep``, a zone known here that is not
    offered (an old name such as W-SU, stored before), is offered too, first, so that saving
    the form keeps it."""
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    rows = list(_choices(str(locale), hour))
    if keep and keep in _known() and keep not in offered():
        # First, and by its own name too: its place may be an offered zone's (W-SU, Moscow).
        rows.insert(0, (keep, f"{label(keep, locale, hour)} ({keep})", keep))
    return rows


def is_known(name: str) -> bool:
    """Whether ``name`` is a zone known here (what a form accepts, offered or not)."""
    return name in _known()
