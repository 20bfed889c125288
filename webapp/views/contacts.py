"""Contacts: lists and their contacts, pasting numbers, CSV uploads, and the stop list."""

from __future__ import annotations

from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from webapp import body_limits, csv_writer, sizes, two_factor_gate
from webapp.access import (
    Permission,
    current_team,
    load_current_team,
    team_required,
    team_scoped,
)
from webapp.body_limits import large_body
from webapp.domain import contact_search, contacts, csv_import, csv_preview
from webapp.extensions import db
from webapp.forms.contacts import (
    ContactForm,
    ListForm,
    PasteForm,
    PreviewForm,
    UploadForm,
)
from webapp.htmx import htmx_details, stop_polling
from webapp.models import Contact, ContactImport, ContactList, ImportState

bp = Blueprint("contacts", __name__)


@bp.app_errorhandler(RequestEntityTooLarge)
def too_large(error: RequestEntityTooLarge) -> ResponseReturnValue:
    """A body over its endpoint's limit (webapp.body_limits), refused before any of it was
    used: the upload page again with the reason by the file field, else a page (for htmx, a
    notice at the top of the page the person is on) saying what the limit is."""
    if "team" not in g:  # refused before the current team was loaded (and before the gate)
        load_current_team()
        held = two_factor_gate.gate()
        if held is not None:  # at the code step or enrolment: nothing of the team is shown
            return held
    limit = sizes.shown(body_limits.limit_of_request())
    list_id = (request.view_args or {}).get("list_id")
    if request.endpoint == "contacts.upload" and g.team is not None:
        contact_list = contacts.team_list(db.session, g.team, list_id)
        if contact_list is not None:
            form = UploadForm(formdata=None)
            return upload_page(contact_list, form, too_large=limit), 413
    if not htmx_details():
        return render_template("contacts/too_large.html", limit=limit), 413
    response = make_response(render_template("contacts/_too_large.html", limit=limit))
    # htmx swaps only successful answers: this one goes at the top of the page.
    response.headers.update({"HX-Retarget": "main", "HX-Reswap": "afterbegin"})
    return response


def _upload_root() -> Path:
    return Path(current_app.instance_path)


# -- lists --------------------------------------------------------------------------------------


@bp.get("/contacts")
@team_required()
def lists() -> ResponseReturnValue:
    """The team's contact lists, with how many contacts each holds."""
    return _lists_page(ListForm())


def _lists_page(form: ListForm) -> str:
    rows = contacts.team_lists(db.session, current_team())
    return render_template("contacts/lists.html", lists=rows, form=form)


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
    """A list's contacts, 50 at a time by id, optionally those the search ``q`` finds (a phone
    prefix, or a name or any field's value). The contacts table alone answers htmx requests
    aimed at it (search, refresh)."""
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
    after = request.args.get("after", type=int)
    page = contacts.contacts_page(db.session, contact_list, after=after, query=query)
    return {"page": page, "q": query, "after": after, "search_window": contact_search.WINDOW}


def _list_page(
    contact_list: ContactList,
    *,
    contact_form: ContactForm | None = None,
    paste_form: PasteForm | None = None,
    rename_form: ListForm | None = None,
    report: contacts.AddReport | None = None,
) -> str:
    imports = csv_preview.recent_imports(db.session, contact_list)
    return render_template(
        "contacts/list.html",
        contact_list=contact_list,
        contact_form=contact_form or ContactForm(formdata=None),
        paste_form=paste_form or PasteForm(formdata=None),
        rename_form=rename_form or ListForm(formdata=None, obj=contact_list),
        report=report,
        imports=imports,
        **_contacts_context(contact_list),
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
            fields = contacts.typed_fields(contact_list, form.more_fields.data, request.form)
            contact = contacts.add_contact(
                db.session, contact_list, current_team(), form.phone.data, fields
            )
        except contacts.ContactError as exc:
            db.session.rollback()
            wrong = form.more_fields if isinstance(exc, contacts.FieldsError) else form.phone
            wrong.errors = [str(exc)]
        else:
            db.session.commit()
            flash(_("%(phone)s added.", phone=f"+{contact.phone}"))
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
        report = contacts.add_pasted(
            db.session, contact_list, current_team(), form.numbers.data, current_user
        )
        db.session.commit()
        form = box_after(form, report)
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


def box_after(form: PasteForm, report: contacts.AddReport) -> PasteForm:
    """The paste box after a paste: empty when every number went in, its text kept when some
    were refused, and an error by it when none was a phone."""
    if not report.invalid:
        return type(form)(formdata=None)
    if not report.added and not report.duplicates:
        form.numbers.errors = [_("None of these is a phone number.")]
    return form


@bp.post("/contacts/lists/<int:list_id>/contacts/<int:contact_id>/remove")
@team_required(Permission.SEND)
def remove_contact(list_id: int, contact_id: int) -> ResponseReturnValue:
    """Take a contact out of the list."""
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
@large_body("UPLOAD_MAX_BYTES")
def upload(list_id: int) -> ResponseReturnValue:
    """Upload a CSV file (spooled to disk by werkzeug, then copied in blocks: never held in
    memory), within the team's quota, then choose how to read it on the preview."""
    contact_list = team_scoped(ContactList, list_id)
    form = UploadForm()
    if form.validate_on_submit():
        file = form.file.data
        try:
            contact_import = csv_preview.receive_upload(
                db.session,
                contact_list,
                current_user,
                file.stream,
                file.filename,
                _upload_root(),
                quota=current_app.config["UPLOAD_QUOTA_BYTES"],
            )
        except csv_preview.CsvError as exc:
            form.file.errors = [str(exc)]
        else:
            db.session.commit()
            return redirect(url_for("contacts.preview", import_id=contact_import.id))
    return upload_page(contact_list, form), (400 if form.errors else 200)


def upload_page(contact_list: ContactList, form: UploadForm, too_large: str = "") -> str:
    config = current_app.config
    return render_template(
        "contacts/upload.html",
        contact_list=contact_list,
        form=form,
        too_large=too_large,
        upload_limit=sizes.shown(config["UPLOAD_MAX_BYTES"]),
        in_use=sizes.shown(csv_preview.stored_bytes(db.session, contact_list.team_id)),
        quota=sizes.shown(config["UPLOAD_QUOTA_BYTES"]),
    )


@bp.route("/contacts/imports/<int:import_id>/preview", methods=["GET", "POST"])
@team_required(Permission.SEND)
def preview(import_id: int) -> ResponseReturnValue:
    """The file's header and first rows as read with the detected (or chosen) encoding and
    delimiter; the person picks the phone column and starts the import."""
    contact_import = team_scoped(ContactImport, import_id)
    if contact_import.state != ImportState.PENDING:
        return redirect(url_for("contacts.import_page", import_id=import_id))
    contact_list = db.session.get(ContactList, contact_import.list_id)
    context = {"contact_import": contact_import, "contact_list": contact_list}
    source = request.form if request.method == "POST" else request.args
    try:
        sniffed, column = csv_preview.reread(
            contact_import, _upload_root(), source.get("encoding"), source.get("delimiter")
        )
    except (csv_preview.CsvError, OSError) as exc:
        error = str(exc) if isinstance(exc, csv_preview.CsvError) else _("The file is gone.")
        page = render_template("contacts/preview.html", error=error, **context)
        return page, 400
    form = PreviewForm(encoding=sniffed.encoding, delimiter=sniffed.delimiter, phone_column=column)
    form.phone_column.choices = [
        (i, name or _("column %(n)d", n=i + 1)) for i, name in enumerate(sniffed.header)
    ]
    if form.validate_on_submit():
        csv_preview.start_import(
            db.session, contact_import, sniffed, form.phone_column.data, current_user
        )
        db.session.commit()
        return redirect(url_for("contacts.import_page", import_id=import_id))
    page = render_template("contacts/preview.html", sniffed=sniffed, form=form, **context)
    return page, (400 if form.errors else 200)


@bp.post("/contacts/imports/<int:import_id>/cancel")
@team_required(Permission.SEND)
def cancel_import(import_id: int) -> ResponseReturnValue:
    """Drop an upload that was not started; its file is deleted."""
    contact_import = team_scoped(ContactImport, import_id)
    list_id = contact_import.list_id
    if not csv_preview.cancel_import(db.session, contact_import, _upload_root()):
        flash(_("This import has already started."), "warning")
        return redirect(url_for("contacts.import_page", import_id=import_id))
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
        "invalid_rows": csv_import.first_invalid_rows(contact_import.invalid_report),
    }
    if not htmx_details().wants_fragment:
        return render_template("contacts/import.html", **context)
    response = make_response(render_template("contacts/_import.html", **context))
    if contact_import.state in (ImportState.DONE, ImportState.FAILED):
        return stop_polling(response)
    return response


@bp.get("/contacts/imports/<int:import_id>/invalid.csv")
@team_required()
def invalid_rows(import_id: int) -> ResponseReturnValue:
    """The import's invalid rows as CSV (row, phone, reason) in the chosen format, streamed."""
    contact_import = team_scoped(ContactImport, import_id)
    header = [_("Row"), _("Phone"), _("Reason")]
    rows = csv_import.invalid_rows_table(contact_import.invalid_report, header)
    name = contact_import.filename.rsplit(".", 1)[0] or "import"
    return csv_writer.download(rows, f"{name}-invalid-rows.csv")


# The stop list's routes are on this blueprint too.
from webapp.views import contacts_stop_list  # noqa: E402, F401
