"""Contacts: lists and their contacts, pasting numbers, CSV uploads, and the stop list."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge

from webapp.access import Permission, current_team, team_required, team_scoped
from webapp.domain import contacts, csv_import
from webapp.domain.audit import record
from webapp.extensions import db
from webapp.forms.contacts import (
    ContactForm,
    ListForm,
    PasteForm,
    PreviewForm,
    StopListForm,
    UploadForm,
)
from webapp.htmx import htmx_details, stop_polling
from webapp.models import Contact, ContactImport, ContactList, ImportState, StopListEntry

bp = Blueprint("contacts", __name__)

UPLOAD_LIMIT = 256 * 1024 * 1024
PASTE_LIMIT = 8 * 1024 * 1024
FLASK_FORM_MEMORY_DEFAULT = 500_000
RECENT_IMPORTS = 5


@bp.record_once
def _request_limits(state) -> None:
    # CSV uploads may be large (they go to disk, never to memory); pasted numbers are form text.
    # Set only where the deployment has not chosen its own limits.
    config = state.app.config
    if config.get("MAX_CONTENT_LENGTH") is None:
        config["MAX_CONTENT_LENGTH"] = UPLOAD_LIMIT
    if config.get("MAX_FORM_MEMORY_SIZE") == FLASK_FORM_MEMORY_DEFAULT:
        config["MAX_FORM_MEMORY_SIZE"] = PASTE_LIMIT


@bp.app_errorhandler(RequestEntityTooLarge)
def too_large(error: RequestEntityTooLarge) -> ResponseReturnValue:
    """A friendly page for uploads (or pasted text) over the limit."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or UPLOAD_LIMIT
    size = f"{limit // 2**20} MB" if limit >= 2**20 else f"{limit // 2**10} KB"
    return render_template("contacts/too_large.html", limit=size), 413


def _upload_root() -> Path:
    return Path(current_app.instance_path)


def _template_context() -> dict:
    return {"tz": ZoneInfo(current_team().timezone)}


# -- lists --------------------------------------------------------------------------------------


@bp.get("/contacts")
@team_required()
def lists() -> ResponseReturnValue:
    """The team's contact lists, with how many contacts each holds."""
    return _lists_page(ListForm())


def _lists_page(form: ListForm) -> str:
    rows = db.session.scalars(
        select(ContactList)
        .where(ContactList.team_id == current_team().id)
        .order_by(ContactList.name, ContactList.id)
    ).all()
    return render_template("contacts/lists.html", lists=rows, form=form, **_template_context())


@bp.post("/contacts/lists")
@team_required(Permission.SEND)
def create_list() -> ResponseReturnValue:
    """Create an empty list and go to it."""
    form = ListForm()
    if not form.validate_on_submit():
        return _lists_page(form), 400
    contact_list = contacts.create_list(db.session, current_team(), form.name.data, current_user)
    db.session.commit()
    flash(_("List %(name)s created. Add contacts to it below.", name=contact_list.name))
    return redirect(url_for("contacts.list_page", list_id=contact_list.id))


@bp.get("/contacts/lists/<int:list_id>")
@team_required()
def list_page(list_id: int) -> ResponseReturnValue:
    """A list's contacts, 50 at a time by id, optionally those whose phone starts with ``q``.
    The contacts table alone answers htmx requests aimed at it (search, refresh)."""
    contact_list = team_scoped(ContactList, list_id)
    if htmx_details().wants_fragment and htmx_details().target == "contacts":
        return render_template(
            "contacts/_contacts.html",
            contact_list=contact_list,
            **_contacts_context(contact_list),
        )
    return _list_page(contact_list)


def _contacts_context(contact_list: ContactList) -> dict:
    query = request.args.get("q", "")
    page = contacts.contacts_page(
        db.session,
        contact_list,
        after=request.args.get("after", type=int),
        prefix=contacts.prefix_digits(query),
    )
    return {"page": page, "q": query, "after": request.args.get("after", type=int)}


def _list_page(
    contact_list: ContactList,
    *,
    contact_form: ContactForm | None = None,
    paste_form: PasteForm | None = None,
    rename_form: ListForm | None = None,
    report: contacts.AddReport | None = None,
) -> str:
    imports = db.session.scalars(
        select(ContactImport)
        .where(ContactImport.list_id == contact_list.id)
        .order_by(ContactImport.id.desc())
        .limit(RECENT_IMPORTS)
    ).all()
    return render_template(
        "contacts/list.html",
        contact_list=contact_list,
        contact_form=contact_form or ContactForm(formdata=None),
        paste_form=paste_form or PasteForm(formdata=None),
        rename_form=rename_form or ListForm(formdata=None, obj=contact_list),
        report=report,
        imports=imports,
        **_contacts_context(contact_list),
        **_template_context(),
    )


@bp.post("/contacts/lists/<int:list_id>/rename")
@team_required(Permission.SEND)
def rename_list(list_id: int) -> ResponseReturnValue:
    """Give a list another name."""
    contact_list = team_scoped(ContactList, list_id)
    form = ListForm()
    if not form.validate_on_submit():
        return _list_page(contact_list, rename_form=form), 400
    contacts.rename_list(db.session, contact_list, form.name.data, current_user)
    db.session.commit()
    flash(_("The list is now called %(name)s.", name=contact_list.name))
    return redirect(url_for("contacts.list_page", list_id=contact_list.id))


@bp.post("/contacts/lists/<int:list_id>/delete")
@team_required(Permission.SEND)
def delete_list(list_id: int) -> ResponseReturnValue:
    """Delete a list with all its contacts (the stop list stays as it is)."""
    _check_csrf()
    contact_list = team_scoped(ContactList, list_id)
    name = contact_list.name
    contacts.delete_list(db.session, contact_list, current_user, _upload_root())
    db.session.commit()
    flash(_("List %(name)s was deleted.", name=name))
    return redirect(url_for("contacts.lists"))


# -- contacts -----------------------------------------------------------------------------------


@bp.post("/contacts/lists/<int:list_id>/contacts")
@team_required(Permission.SEND)
def add_contact(list_id: int) -> ResponseReturnValue:
    """Add one contact typed by hand, with optional fields."""
    contact_list = team_scoped(ContactList, list_id)
    form = ContactForm()
    if form.validate_on_submit():
        try:
            fields = contacts.parse_fields(form.more_fields.data)
            for name in contact_list.field_names or []:
                if value := request.form.get(f"field:{name}", "").strip():
                    fields[name] = value
        except contacts.ContactError as exc:
            form.more_fields.errors = [str(exc)]
        else:
            try:
                contact = contacts.add_contact(
                    db.session, contact_list, current_team(), form.phone.data, fields
                )
            except contacts.ContactError as exc:
                db.session.rollback()
                form.phone.errors = [str(exc)]
            else:
                db.session.commit()
                flash(_("%(phone)s added.", phone=contact.phone))
                return redirect(url_for("contacts.list_page", list_id=contact_list.id))
    return _list_page(contact_list, contact_form=form), 400


@bp.post("/contacts/lists/<int:list_id>/paste")
@team_required(Permission.SEND)
def paste(list_id: int) -> ResponseReturnValue:
    """Add pasted numbers; the report (added, already there, not phones with the reason)
    appears above the box, which keeps the text when some numbers were refused."""
    contact_list = team_scoped(ContactList, list_id)
    form = PasteForm()
    report = None
    if form.validate_on_submit():
        report = contacts.add_pasted(db.session, contact_list, current_team(), form.numbers.data)
        if report.added:
            record(
                db.session,
                contact_list.team_id,
                "contacts_pasted",
                current_user,
                added=report.added,
            )
        db.session.commit()
        if not report.invalid:
            form = PasteForm(formdata=None)  # all in: an empty box for the next paste
        elif not report.added and not report.duplicates:
            form.numbers.errors = [_("None of these is a phone number.")]
    status = 400 if form.errors else 200
    if htmx_details().wants_fragment:
        response = make_response(
            render_template(
                "contacts/_paste.html", contact_list=contact_list, form=form, report=report
            )
        )
        if report and report.added:
            response.headers["HX-Trigger"] = "contacts-changed"
        return response  # 200 even with errors: htmx swaps only successful answers
    db.session.refresh(contact_list)
    return _list_page(contact_list, paste_form=form, report=report), status


@bp.post("/contacts/lists/<int:list_id>/contacts/<int:contact_id>/remove")
@team_required(Permission.SEND)
def remove_contact(list_id: int, contact_id: int) -> ResponseReturnValue:
    """Take a contact out of the list."""
    _check_csrf()
    contact_list = team_scoped(ContactList, list_id)
    contact = team_scoped(Contact, contact_id)
    if contact.list_id != contact_list.id:
        abort(404)
    phone = contact.phone
    contacts.remove_contact(db.session, contact)
    db.session.commit()
    flash(_("%(phone)s removed from the list.", phone=phone))
    return redirect(url_for("contacts.list_page", list_id=contact_list.id))


# -- CSV uploads --------------------------------------------------------------------------------


@bp.route("/contacts/lists/<int:list_id>/upload", methods=["GET", "POST"])
@team_required(Permission.SEND)
def upload(list_id: int) -> ResponseReturnValue:
    """Upload a CSV file (to disk, in blocks), then choose how to read it on the preview."""
    contact_list = team_scoped(ContactList, list_id)
    form = UploadForm()
    if form.validate_on_submit():
        file = form.file.data
        stored = csv_import.store_upload(file.stream, _upload_root())
        try:
            sniffed = csv_import.sniff(_upload_root() / stored)
        except csv_import.CsvError as exc:
            contacts.remove_upload(_upload_root(), stored)
            form.file.errors = [str(exc)]
        else:
            contact_import = ContactImport(
                team_id=contact_list.team_id,
                list_id=contact_list.id,
                created_by_id=current_user.id,
                filename=(file.filename or "upload.csv")[:255],
                stored_path=stored,
                encoding=sniffed.encoding,
                delimiter=sniffed.delimiter,
                phone_column=sniffed.phone_column,
                state=ImportState.PENDING,
            )
            db.session.add(contact_import)
            db.session.commit()
            return redirect(url_for("contacts.preview", import_id=contact_import.id))
    status = 400 if form.errors else 200
    return render_template("contacts/upload.html", contact_list=contact_list, form=form), status


@bp.route("/contacts/imports/<int:import_id>/preview", methods=["GET", "POST"])
@team_required(Permission.SEND)
def preview(import_id: int) -> ResponseReturnValue:
    """The file's header and first rows as read with the detected (or chosen) encoding and
    delimiter; the person picks the phone column and starts the import."""
    contact_import = team_scoped(ContactImport, import_id)
    if contact_import.state != ImportState.PENDING:
        return redirect(url_for("contacts.import_page", import_id=import_id))
    contact_list = db.session.get(ContactList, contact_import.list_id)
    source = request.form if request.method == "POST" else request.args
    encoding = source.get("encoding") or contact_import.encoding
    delimiter = source.get("delimiter") or contact_import.delimiter
    try:
        sniffed = csv_import.sniff(_upload_root() / contact_import.stored_path, encoding, delimiter)
    except (csv_import.CsvError, OSError) as exc:
        error = str(exc) if isinstance(exc, csv_import.CsvError) else _("The file is gone.")
        return render_template(
            "contacts/preview.html",
            contact_import=contact_import,
            contact_list=contact_list,
            error=error,
        ), 400
    rereading = (sniffed.encoding, sniffed.delimiter) != (
        contact_import.encoding,
        contact_import.delimiter,
    )
    form = PreviewForm(
        encoding=sniffed.encoding,
        delimiter=sniffed.delimiter,
        phone_column=sniffed.phone_column if rereading else contact_import.phone_column,
    )
    form.phone_column.choices = [
        (i, name or _("column %(n)d", n=i + 1)) for i, name in enumerate(sniffed.header)
    ]
    if form.validate_on_submit():
        contact_import.encoding = sniffed.encoding
        contact_import.delimiter = sniffed.delimiter
        contact_import.phone_column = form.phone_column.data
        contact_import.state = ImportState.QUEUED
        record(
            db.session,
            contact_import.team_id,
            "contacts_import_started",
            current_user,
            list=contact_list.name,
            file=contact_import.filename,
        )
        db.session.commit()
        return redirect(url_for("contacts.import_page", import_id=import_id))
    return render_template(
        "contacts/preview.html",
        contact_import=contact_import,
        contact_list=contact_list,
        sniffed=sniffed,
        form=form,
        error=None,
    ), (400 if form.errors else 200)


@bp.post("/contacts/imports/<int:import_id>/cancel")
@team_required(Permission.SEND)
def cancel_import(import_id: int) -> ResponseReturnValue:
    """Drop an upload that was not started; its file is deleted."""
    _check_csrf()
    contact_import = team_scoped(ContactImport, import_id)
    if contact_import.state != ImportState.PENDING:
        flash(_("This import has already started."), "warning")
        return redirect(url_for("contacts.import_page", import_id=import_id))
    list_id = contact_import.list_id
    contacts.remove_upload(_upload_root(), contact_import.stored_path)
    db.session.delete(contact_import)
    db.session.commit()
    flash(_("The upload was cancelled."))
    return redirect(url_for("contacts.list_page", list_id=list_id))


@bp.get("/contacts/imports/<int:import_id>")
@team_required()
def import_page(import_id: int) -> ResponseReturnValue:
    """An import's progress while the worker reads it, then its report. The report fragment
    answers the page's poll, with 286 (stop) once nothing will change."""
    contact_import = team_scoped(ContactImport, import_id)
    if contact_import.state == ImportState.PENDING:
        return redirect(url_for("contacts.preview", import_id=import_id))
    context = {
        "contact_import": contact_import,
        "contact_list": db.session.get(ContactList, contact_import.list_id),
        "invalid_rows": _first_invalid_rows(contact_import.invalid_report),
    }
    if not htmx_details().wants_fragment:
        return render_template("contacts/import.html", **context)
    response = make_response(render_template("contacts/_import.html", **context))
    if contact_import.state in (ImportState.DONE, ImportState.FAILED):
        return stop_polling(response)
    return response


def _first_invalid_rows(report: str, limit: int = 20) -> list[list[str]]:
    lines = []
    for line in io.StringIO(report):
        lines.append(line)
        if len(lines) == limit:
            break
    return list(csv.reader(lines))


@bp.get("/contacts/imports/<int:import_id>/invalid.csv")
@team_required()
def invalid_rows(import_id: int) -> ResponseReturnValue:
    """The import's invalid rows as CSV (row, phone, reason), streamed."""
    contact_import = team_scoped(ContactImport, import_id)
    report = contact_import.invalid_report or ""

    def generate():
        yield "\ufeffrow,phone,reason\n"  # the BOM tells Excel it is UTF-8
        for start in range(0, len(report), 64 * 1024):
            yield report[start : start + 64 * 1024]

    name = contact_import.filename.rsplit(".", 1)[0] or "import"
    # The generator needs nothing of the request: no stream_with_context, which would keep
    # the request (and its database session) open until the client reads the last byte.
    response = Response(generate(), mimetype="text/csv")
    response.headers.set("Content-Disposition", "attachment", filename=f"{name}-invalid-rows.csv")
    return response


# -- the stop list ------------------------------------------------------------------------------


@bp.get("/contacts/stop-list")
@team_required()
def stop_list() -> ResponseReturnValue:
    """The team's stop list: phones no campaign sends to, newest first."""
    return _stop_list_page(StopListForm(formdata=None))


def _stop_list_page(form: StopListForm, report: contacts.AddReport | None = None) -> str:
    query = request.args.get("q", "")
    entries, next_after, total = contacts.stop_list_page(
        db.session,
        current_team(),
        after=request.args.get("after", type=int),
        prefix=contacts.prefix_digits(query),
    )
    return render_template(
        "contacts/stop_list.html",
        entries=entries,
        next_after=next_after,
        total=total,
        q=query,
        form=form,
        report=report,
        **_template_context(),
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
        if not report.invalid:
            form = StopListForm(formdata=None)
        elif not report.added and not report.duplicates:
            form.numbers.errors = [_("None of these is a phone number.")]
    return _stop_list_page(form, report), (400 if form.errors else 200)


@bp.post("/contacts/stop-list/<int:entry_id>/remove")
@team_required(Permission.SEND)
def stop_list_remove(entry_id: int) -> ResponseReturnValue:
    """Take a phone off the stop list: campaigns may send to it again."""
    _check_csrf()
    entry = team_scoped(StopListEntry, entry_id)
    phone = entry.phone
    contacts.remove_from_stop_list(db.session, entry, current_user)
    db.session.commit()
    flash(_("%(phone)s is off the stop list.", phone=phone))
    return redirect(url_for("contacts.stop_list"))


def _check_csrf() -> None:
    # Buttons without fields still post a form: validate its CSRF token like any other.
    if not FlaskForm().validate_on_submit():
        abort(400)
