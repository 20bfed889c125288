"""Reports: the spending report (by campaign, day, sender name or user, for a chosen period)
and its CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, make_response, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from webapp.access import current_team, team_required
from webapp.csv_writer import BOM, safe_cell
from webapp.domain import reports
from webapp.extensions import db
from webapp.htmx import htmx_details
from webapp.models import utcnow

bp = Blueprint("reports", __name__)


@dataclass
class Choice:
    """What the person asked for: the grouping, the period (None when it cannot be read),
    what they typed (kept as typed), and what is wrong with it, in words, by field."""

    grouping: str
    period_name: str
    typed: dict[str, str]
    period: reports.Period | None
    errors: dict[str, str]

    def is_date(self, name: str) -> bool:
        """Whether the typed ``name`` field is a date (a date picker can show it)."""
        try:
            date.fromisoformat(self.typed[name])
        except ValueError:
            return not self.typed[name]
        return True


def _choice() -> Choice:
    grouping = request.args.get("by", "")
    if grouping not in reports.GROUPINGS:
        grouping = reports.DEFAULT_GROUPING
    name = request.args.get("period", "")
    typed = {key: request.args.get(key, "").strip()[:32] for key in ("from", "to")}
    try:
        period = reports.parse_period(current_team(), utcnow(), name, typed["from"], typed["to"])
    except reports.PeriodError as exc:
        errors = {key: _period_problem(code) for key, code in exc.problems.items()}
        return Choice(grouping, reports.CUSTOM, typed, None, errors)
    if period.name != reports.CUSTOM:
        # The fields show the preset's days, ready to be changed into a custom period.
        typed = {"from": period.first.isoformat(), "to": period.last.isoformat()}
    return Choice(grouping, period.name, typed, period, {})


def _period_problem(code: str) -> str:
    return {
        "missing": _("Enter a date."),
        "invalid": _("Enter a real date as YYYY-MM-DD, for example 2026-03-31."),
        "before_start": _("The last day is before the first day."),
        "too_long": _("Choose at most %(days)s days (two years) at a time.", days=reports.MAX_DAYS),
    }[code]


@bp.get("/reports/spending")
@team_required()
def spending() -> ResponseReturnValue:
    """What the team's messages cost over a period, by campaign, day, sender name or user,
    with totals; estimated figures are marked. Presets and groupings are links, the custom
    period a GET form: all work without JavaScript, and htmx swaps the report region (this
    template's fragment) and pushes the URL, which returns the full page."""
    choice = _choice()
    report = None
    if choice.period is not None:
        report = reports.spending(db.session, current_team(), choice.period, choice.grouping)
    context = {"choice": choice, "report": report, "presets": _presets(), "groupings": _groupings()}
    if htmx_details().wants_fragment:
        # htmx swaps only 2xx answers: a period that cannot be read is shown in the fragment.
        return render_template("reports/_spending.html", **context)
    page = render_template("reports/spending.html", **context)
    return page, (200 if report is not None else 400)


@bp.get("/reports/spending.csv")
@team_required()
def spending_csv() -> ResponseReturnValue:
    """The same report as the page for the same query string, as CSV: a header row, the rows,
    a totals row, an "estimated" column. UTF-8 with a BOM (Excel); names are neutralised so
    that a spreadsheet never runs them as formulas."""
    choice = _choice()
    if choice.period is None:
        text = "\n".join(f"{key}: {error}" for key, error in choice.errors.items())
        return make_response(text, 400, {"Content-Type": "text/plain; charset=utf-8"})
    report = reports.spending(db.session, current_team(), choice.period, choice.grouping)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    about = _about_columns(report.grouping)
    writer.writerow(
        [
            *about,
            _("Messages"),
            _("Accepted"),
            _("Parts"),
            _("Cost, RUB"),
            _("Estimated"),
            _("Estimated parts"),
            _("Estimated cost, RUB"),
            _("Delivered"),
            _("Failed"),
            _("Delivery rate, %"),
        ]
    )
    for row in report.rows:
        writer.writerow([*_about_cells(report.grouping, row), *_figure_cells(row)])
    writer.writerow([_("Total"), *[""] * (len(about) - 1), *_figure_cells(report.total)])
    period = report.period
    name = f"spending-by-{report.grouping}-{period.first.isoformat()}-{period.last.isoformat()}"
    return Response(
        BOM + buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _about_columns(grouping: str) -> list[str]:
    return {
        "campaign": [_("Campaign"), _("Sender"), _("Created by")],
        "day": [_("Day")],
        "sender": [_("Sender")],
        "user": [_("User")],
    }[grouping]


def _about_cells(grouping: str, row: reports.Row) -> list[str]:
    if grouping == "campaign":
        return [
            safe_cell(row.label or ""),
            safe_cell(row.sender or _("account default sender")),
            safe_cell(row.author or _("deleted user")),
        ]
    if grouping == "day":
        return [row.key.isoformat()]
    return [safe_cell(label_of(grouping, row))]


def _figure_cells(row: reports.Row) -> list[Any]:
    rate = row.delivery_rate
    return [
        row.messages,
        row.accepted,
        row.parts,
        _plain(row.cost),
        {"all": _("yes"), "partly": _("partly"), "": _("no")}[row.estimated],
        row.estimated_parts,
        _plain(row.estimated_cost),
        row.delivered,
        row.failed,
        "" if rate is None else f"{rate:.1f}",
    ]


def _plain(value: Decimal) -> str:
    # Rounded as the page's ``money`` filter rounds, without its thousands separators.
    return f"{value:.2f}"


def label_of(grouping: str, row: reports.Row) -> str:
    """What a row is about, in words: a campaign's name, a day, a sender name, an email."""
    if grouping == "day":
        return row.key.isoformat()
    if row.label is not None:
        return row.label
    return _("account default sender") if grouping == "sender" else _("deleted user")


def _presets() -> list[tuple[str, str]]:
    return [
        ("today", _("Today")),
        ("yesterday", _("Yesterday")),
        ("last-7-days", _("Last 7 days")),
        ("this-month", _("This month")),
        ("last-month", _("Last month")),
    ]


def _groupings() -> list[tuple[str, str]]:
    return [
        ("campaign", _("By campaign")),
        ("day", _("By day")),
        ("sender", _("By sender name")),
        ("user", _("By user")),
    ]


@bp.context_processor
def _report_helpers() -> dict[str, Any]:
    return {"report_label": label_of}
