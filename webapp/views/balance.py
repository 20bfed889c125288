"""The balance page: what the account holds now, its history as a chart and as a table, how
long it lasts at the current pace, and the team's low-balance warning."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from webapp import periods
from webapp.access import Permission, current_team, team_required
from webapp.domain import balance, balance_history, gateway_calls
from webapp.extensions import db
from webapp.formatting import balance_amount, zoned_time
from webapp.forms.balance import RANGES, RangeForm, WarningForm
from webapp.htmx import htmx_details
from webapp.jobs.balance import configured_interval
from webapp.models import BalanceSnapshot, utcnow
from webapp.timezones import team_zone

bp = Blueprint("balance", __name__)

RESOLUTION_LABELS = {
    timedelta(0): _l("every reading"),
    timedelta(hours=1): _l("the last reading of each hour"),
    timedelta(hours=3): _l("the last reading of every 3 hours"),
    timedelta(hours=6): _l("the last reading of every 6 hours"),
    timedelta(days=1): _l("the last reading of each day"),
    timedelta(days=7): _l("the last reading of each week"),
}


@bp.get("/balance")
@team_required(Permission.VIEW)
def index() -> ResponseReturnValue:
    """The balance now (per type, with credit and what is available), when it was read and
    whether the last reading failed; the spending pace; the balance over a range (last day,
    week, month or chosen days) as a chart and as a table; the low-balance warning form for
    owners and admins. htmx asks for the live part alone when the range changes."""
    context = _live_context(RangeForm(request.args))
    if htmx_details().wants_fragment:
        return render_template("balance/_live.html", **context, banner_oob=True)
    return render_template("balance/index.html", **context, warning_form=_warning_form())


@bp.post("/balance/refresh")
@team_required(Permission.VIEW)
def refresh() -> ResponseReturnValue:
    """Read the balance from the gateway now (a short total deadline, no retries, one check
    at a time per team: a person waits) and show the page again with it, or with what went
    wrong."""
    outcome = gateway_calls.refresh_balance(
        db.session, current_app.config, current_team(), configured_interval(current_app)
    )
    ranges = RangeForm(request.form)
    if htmx_details().wants_fragment:
        failure = None if outcome.ok else outcome.message
        context = _live_context(ranges, failure)
        return render_template("balance/_live.html", **context, banner_oob=True)
    if outcome.ok:
        flash(_("Balance read just now."))
    else:
        flash(_("The balance could not be read: %(reason)s", reason=outcome.message), "error")
    return redirect(url_for("balance.index", **_range_args(ranges)), 303)


@bp.post("/balance/warning")
@team_required(Permission.MANAGE)
def warning() -> ResponseReturnValue:
    """Set or turn off the low-balance warning; the latest reading is checked against it at
    once, so the banner appears or goes on the very next page."""
    team = current_team()
    form = _warning_form()
    if not form.validate_on_submit():
        context = _live_context(RangeForm(request.args))
        return render_template("balance/index.html", **context, warning_form=form), 400
    balance.set_warning(db.session, team, form.threshold, form.type.data, current_user, utcnow())
    if form.threshold is None:
        flash(_("The low-balance warning is off."))
    else:
        flash(
            _(
                "You will be warned when %(type)s is below %(amount)s.",
                type=team.low_balance_type,
                amount=balance_amount(form.threshold, team.low_balance_type),
            )
        )
    return redirect(url_for("balance.index"), 303)


def low_balance_entry() -> BalanceSnapshot | None:
    """The latest reading of the balance type the team's warning watches (for the banner)."""
    team = current_team()
    if team is None:
        return None
    entries = balance.latest(db.session, team.id)
    return next((e for e in entries if e.type == team.low_balance_type), None)


def _live_context(ranges: RangeForm, refresh_failure: str | None = None) -> dict[str, Any]:
    """Everything the live part of the page (balance/_live.html) shows."""
    team = current_team()
    now = utcnow()
    entries = balance.latest(db.session, team.id)
    shown = balance.worth_showing(entries)
    context: dict[str, Any] = {
        "team": team,
        "entries": shown,
        "as_of": entries[0].taken_at if entries else None,
        "pace": balance.pace(db.session, team, now),
        "ranges": ranges,
        "range_links": [(key, periods.LABELS[name]) for key, name in RANGES.items()],
        "refresh_failure": refresh_failure,
        "history": None,
    }
    if ranges.read(team, now):
        assert ranges.period is not None
        shown_types = {e.type for e in shown}
        history = balance_history.history_over(db.session, team.id, ranges.period, shown_types)
        context.update(
            history=history,
            resolution=RESOLUTION_LABELS.get(history.resolution, ""),
            chart=_chart(team_zone(team).key, history),
        )
    context["range_args"] = _range_args(ranges)
    return context


def _chart(zone: str, history: balance_history.History) -> dict[str, Any]:
    """The chart's data for static/js/balance-chart.js: the period's bounds (the x axis spans
    all of it), unix times and one series per type (null where a reading lacks the type), in
    the team's time zone. The reading before the period, if any, is the first point, moved
    to the period's start: the balance there."""
    start, before, points = history.period.start, history.before, history.points
    drawn = [balance_history.Point(start, before.balances), *points] if before else points
    return {
        "zone": zone,
        "timeLabel": _("Time"),
        "start": int(start.timestamp()),
        "end": int(history.period.end.timestamp()),
        "times": [int(p.at.timestamp()) for p in drawn],
        "labels": [zoned_time(p.at, ZoneInfo(zone)) for p in drawn],  # the table's text
        "series": [
            {
                "type": t,
                "label": {"RUB": _("RUB"), "SMS": _("SMS")}.get(t, t),  # the legend's name
                "decimals": 2 if t == "RUB" or _fractional(t, drawn) else 0,
                "values": [_number(p.balances.get(t)) for p in drawn],
            }
            for t in history.types
        ],
    }


def _fractional(type_: str, points: list[balance_history.Point]) -> bool:
    return any(
        (v := p.balances.get(type_)) is not None and v != v.to_integral_value() for p in points
    )


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _range_args(ranges: RangeForm) -> dict[str, str]:
    """The query string that shows this range again (what was typed, for a custom one)."""
    if ranges.key != periods.CUSTOM:
        return {"range": ranges.key}
    return {"range": "custom", "from": ranges.start._value(), "to": ranges.end._value()}


def _warning_form() -> WarningForm:
    """The warning form, offering the balance types the page shows: a type the account is not
    billed in stays at zero, and a warning on it would always be on."""
    team = current_team()
    types = balance.types_worth_showing(db.session, team.id)
    form = WarningForm(amount=team.low_balance_threshold, type=team.low_balance_type)
    form.type.choices = [(t, t) for t in types]
    return form
