"""Time zones: a team reads and enters every time in its own zone; the database keeps UTC.

Every conversion of a team's time goes through here: its zone (UTC when the stored name is
empty or unknown), a local date and time to UTC, UTC to the team's zone, the text a page
shows, and the zones a form offers.
"""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime, time
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from webapp.models import Team


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


def shown(when: datetime | None, team: Team, *, seconds: bool = False, day: bool = False) -> str:
    """A time as a page shows it in the team's zone: ``2026-05-01 14:30``, with ``:05`` when
    ``seconds``, only ``2026-05-01`` when ``day``; "" for none."""
    local = in_team_zone(when, team)
    if local is None:
        return ""
    if day:
        return f"{local:%Y-%m-%d}"
    return f"{local:%Y-%m-%d %H:%M:%S}" if seconds else f"{local:%Y-%m-%d %H:%M}"


def iso_in_zone(when: datetime | None, zone: ZoneInfo) -> str:
    """A UTC time in ``zone`` as files write it: ``2026-05-01T14:30:05+03:00``; "" for none."""
    return when.astimezone(zone).isoformat(timespec="seconds") if when is not None else ""


@cache
def _known() -> frozenset[str]:
    # zoneinfo also looks for the tzdata package, which some installed import hooks warn about.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImportWarning)
        return frozenset(available_timezones())


@cache
def choices() -> list[str]:
    """The zones a form offers, by name."""
    return sorted(_known())
