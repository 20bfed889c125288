"""Reports: the spending report (by campaign, day, sender name or user, for a chosen period)
and its CSV."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, make_response, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from webapp import csv_writer
from webapp.access import current_team, team_required
from webapp.domain import reports
from webapp.extensions import db
from webapp.formatting import plain_money, report_label
from webapp.forms.reports import GROUPING_LINKS, PRESET_LINKS, SpendingChoice
from webapp.htmx import htmx_details
from webapp.models import utcnow

bp = Blueprint("reports", __name__)


def _choice() -> SpendingChoice:
    return SpendingChoice.read(request.args, current_team(), utcnow())


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
    context = {
        "choice": choice,
        "report": report,
        "presets": PRESET_LINKS,
        "groupings": GROUPING_LINKS,
    }
    if htmx_details().wants_fragment:
        # htmx swaps only 2xx answers: a period that cannot be read is shown in the fragment.
        return render_template("reports/_spending.html", **context)
    page = render_template("reports/spending.html", **context)
    return page, (200 if report is not None else 400)


@bp.get("/reports/spending.csv")
@team_required()
def spending_csv() -> ResponseReturnValue:
    """The same report as the page for the same query string, as CSV in the chosen format
    (csv_writer): a header row, the rows, a totals row, an "estimated" column; names are
    neutralised so that a spreadsheet never runs them as formulas."""
    choice = _choice()
    if choice.period is None:
        fields = {"from": _("First day"), "to": _("Last day")}  # as the page's form names them
        text = "\n".join(
            _("%(field)s: %(error)s", field=fields.get(key, key), error=error)
            for key, error in choice.errors.items()
        )
        return make_response(text, 400, {"Content-Type": "text/plain; charset=utf-8"})
    report = reports.spending(db.session, current_team(), choice.period, choice.grouping)
    about = _about_columns(report.grouping)
    # Made here, in the request (its language), and written out by the one CSV writer.
    rows: list[list[Any]] = [
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
    ]
    rows += [[*_about_cells(report.grouping, row), *_figure_cells(row)] for row in report.rows]
    rows.append([_("Total"), *[""] * (len(about) - 1), *_figure_cells(report.total)])
    period = report.period
    name = f"spending-by-{report.grouping}-{period.first.isoformat()}-{period.last.isoformat()}"
    return csv_writer.download(rows, f"{name}.csv")


def _about_columns(grouping: str) -> list[str]:
    return {
        "campaign": [_("Campaign"), _("Sender"), _("Created by")],
        "day": [_("Day")],
        "sender": [_("Sender")],
        "user": [_("User")],
    }[grouping]


def _about_cells(grouping: str, row: reports.Row) -> list[Any]:
    if grouping == "campaign":
        return [
            row.label or "",
            row.sender or _("account default sender"),
            row.author or _("deleted user"),
        ]
    if grouping == "day":
        return [row.key]  # a date: csv_writer writes it as Excel reads one
    return [report_label(grouping, row)]


def _figure_cells(row: reports.Row) -> list[Any]:
    rate = row.delivery_rate
    return [
        row.messages,
        row.accepted,
        row.parts,
        csv_writer.Number(plain_money(row.cost)),
        {"all": _("yes"), "partly": _("partly"), "": _("no")}[row.estimated],
        row.estimated_parts,
        csv_writer.Number(plain_money(row.estimated_cost)),
        row.delivered,
        row.failed,
        "" if rate is None else csv_writer.Number(f"{rate:.1f}"),
    ]
