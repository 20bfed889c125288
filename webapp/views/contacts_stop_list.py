"""The stop list's pages: phones no campaign of the team sends to (routes of the contacts
blueprint, kept in their own module)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from webapp.access import Permission, current_team, team_required, team_scoped
from webapp.domain import contacts
from webapp.extensions import db
from webapp.forms.contacts import StopListForm
from webapp.models import StopListEntry
from webapp.views.contacts import box_after, bp


@bp.get("/contacts/stop-list")
@team_required()
def stop_list() -> ResponseReturnValue:
    """The team's stop list: phones no campaign sends to, newest first."""
    return _stop_list_page(StopListForm(formdata=None))


def _stop_list_page(form: StopListForm, report: contacts.AddReport | None = None) -> str:
    query = request.args.get("q", "")
    after = request.args.get("after", type=int)
    entries, next_after, total = contacts.stop_list_page(
        db.session, current_team(), after=after, query=query
    )
    return render_template(
        "contacts/stop_list.html",
        entries=entries,
        next_after=next_after,
        total=total,
        q=query,
        form=form,
        report=report,
    )


@bp.post("/contacts/stop-list")
@team_required(Permission.SEND)
def stop_list_add() -> ResponseReturnValue:
    """Put pasted numbers on the stop list, with a report like the lists' paste box."""
    form = StopListForm()
    report = None
    if form.validate_on_submit():
        report = contacts.add_to_stop_list(
            db.session, current_team(), form.numbers.data, form.reason.data, current_user
        )
        db.session.commit()
        form = box_after(form, report)
    return _stop_list_page(form, report), (400 if form.errors else 200)


@bp.post("/contacts/stop-list/<int:entry_id>/remove")
@team_required(Permission.SEND)
def stop_list_remove(entry_id: int) -> ResponseReturnValue:
    """Take a phone off the stop list: campaigns may send to it again."""
    entry = team_scoped(StopListEntry, entry_id)
    phone = entry.phone
    contacts.remove_from_stop_list(db.session, entry, current_user)
    db.session.commit()
    flash(_("%(phone)s is off the stop list.", phone=phone))
    return redirect(url_for("contacts.stop_list"))
