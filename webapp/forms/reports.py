"""The spending report's choice: a grouping and a period (a preset or typed days), read from
the query string by webapp/periods.py."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l

from webapp import periods
from webapp.domain import reports
from webapp.models import Team

# The presets the report offers as links, and the one it shows first.
PRESETS = ("today", "yesterday", "last-7-days", "this-month", "last-month")
DEFAULT_PERIOD = "this-month"
PRESET_LINKS = [(name, periods.LABELS[name]) for name in PRESETS]
GROUPING_LINKS = [
    ("campaign", _l("By campaign")),
    ("day", _l("By day")),
    ("sender", _l("By sender name")),
    ("user", _l("By user")),
]


@dataclass
class SpendingChoice:
    """What the person asked for: the grouping, the period (None when it cannot be read),
    what they typed (kept as typed), and what is wrong with it, in words, by field."""

    grouping: str
    period_name: str
    typed: dict[str, str]
    period: periods.Period | None
    errors: dict[str, str]

    @classmethod
    def read(cls, args: Mapping[str, str], team: Team, now: datetime) -> SpendingChoice:
        """The choice in ``args``: an unknown grouping is the default one; a period name that
        is not offered is "custom" when days are typed, else the default period."""
        grouping = args.get("by", "")
        if grouping not in reports.GROUPINGS:
            grouping = reports.DEFAULT_GROUPING
        typed = {key: args.get(key, "").strip()[:32] for key in ("from", "to")}
        name = args.get("period", "")
        if name not in (*PRESETS, periods.CUSTOM):
            name = periods.CUSTOM if (typed["from"] or typed["to"]) else DEFAULT_PERIOD
        try:
            period = periods.choose(team, now, name, typed["from"], typed["to"])
        except periods.PeriodError as exc:
            errors = {key: periods.problem(key, code) for key, code in exc.problems.items()}
            return cls(grouping, periods.CUSTOM, typed, None, errors)
        if period.name != periods.CUSTOM:
            # The fields show the preset's days, ready to be changed into a custom period.
            typed = {"from": period.first.isoformat(), "to": period.last.isoformat()}
        return cls(grouping, period.name, typed, period, {})

    def is_date(self, name: str) -> bool:
        """Whether the typed ``name`` field is a day (a date picker can show it)."""
        return not self.typed[name] or periods.is_day(self.typed[name])
