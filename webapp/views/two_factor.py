"""Two-factor sign-in: enrolling, the code step after the password, recovery codes, turning it
off, and the team's requirement (owners)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from webapp import two_factor_gate
from webapp.access import Permission, current_team, team_required
from webapp.domain import two_factor
from webapp.extensions import db
from webapp.forms.two_factor import (
    ConfirmForm,
    EnrolForm,
    RecoveryCodesDownloadForm,
    TeamRequirementForm,
    VerifyForm,
)
from webapp.models import utcnow
from webapp.security import safe_next_url

bp = Blueprint("two_factor", __name__)

T = TypeVar("T")


@bp.get("/account/two-factor")
@login_required
def settings() -> ResponseReturnValue:
    """Whether two-factor sign-in is on, the recovery codes left, and the ways to change it."""
    return _settings_page(ConfirmForm(prefix="regenerate"), ConfirmForm(prefix="disable"))


def _settings_page(
    regenerate_form: ConfirmForm, disable_form: ConfirmForm, status: int = 200
) -> ResponseReturnValue:
    enabled = two_factor.is_enabled(db.session, current_user)
    held = g.get("held_team")
    return render_template(
        "two_factor/settings.html",
        enabled=enabled,
        remaining=two_factor.remaining_recovery_codes(db.session, current_user) if enabled else 0,
        required_by=held.name if held is not None and held.two_factor_required else None,
        regenerate_form=regenerate_form,
        disable_form=disable_form,
    ), status


@bp.post("/account/two-factor/setup")
@login_required
def setup() -> ResponseReturnValue:
    """Make a new secret for the person's app, then show it on the enrolment page."""
    try:
        two_factor.start_enrolment(db.session, current_app.config, current_user)
    except two_factor.TwoFactorError as exc:
        flash(str(exc), "error")
        return redirect(url_for("two_factor.settings"))
    return redirect(url_for("two_factor.enrol"))


@bp.route("/account/two-factor/enrol", methods=["GET", "POST"])
@login_required
def enrol() -> ResponseReturnValue:
    """The QR code and the secret for the app; two-factor sign-in is on once a valid current
    code is typed, and the ten recovery codes are shown, once."""
    enrolment = two_factor.pending_enrolment(db.session, current_app.config, current_user)
    if enrolment is None:
        return redirect(url_for("two_factor.settings"))
    form, status = EnrolForm(), 200
    if form.validate_on_submit():
        try:
            codes = two_factor.finish_enrolment(
                db.session, current_app.config, current_user, form.code.data, utcnow()
            )
        except two_factor.TwoFactorError as exc:
            db.session.rollback()
            form.code.errors.append(str(exc))
            status = 429 if exc.retry_after else 400
        else:
            two_factor_gate.mark_passed()
            return _recovery_codes_page(codes, _("Two-factor sign-in is on."))
    elif request.method == "POST":
        status = 400
    return render_template("two_factor/enrol.html", form=form, enrolment=enrolment), status


def _recovery_codes_page(codes: list[str], done: str) -> ResponseReturnValue:
    download = RecoveryCodesDownloadForm(formdata=None, codes=codes)
    response = Response(
        render_template("two_factor/recovery_codes.html", codes=codes, done=done, form=download)
    )
    response.headers["Cache-Control"] = "no-store"  # shown once: never from a cache
    return response


@bp.post("/account/two-factor/recovery-codes")
@login_required
def regenerate_recovery_codes() -> ResponseReturnValue:
    """Ten new recovery codes, after a current code or the password; the old ones stop working."""
    form = ConfirmForm(prefix="regenerate")
    done, codes = _confirmed(form, two_factor.regenerate_recovery_codes)
    if done:
        return _recovery_codes_page(codes, _("New recovery codes: the old ones no longer work."))
    return _settings_page(form, ConfirmForm(prefix="disable", formdata=None), 400)


def _confirmed(form: ConfirmForm, change: Callable[..., T]) -> tuple[bool, T | None]:
    """Run ``change`` once the form's code or password is accepted: (True, its result); else
    (False, None), with the reason shown beside the field."""
    if not form.validate_on_submit():
        return False, None
    try:
        return True, change(
            db.session, current_app.config, current_user, form.code_or_password.data, utcnow()
        )
    except two_factor.TwoFactorError as exc:
        db.session.rollback()
        form.code_or_password.errors.append(str(exc))
        return False, None


@bp.post("/account/two-factor/recovery-codes.txt")
@login_required
def download_recovery_codes() -> ResponseReturnValue:
    """The recovery codes just shown, as a text file to keep (only unused codes of one's own)."""
    form = RecoveryCodesDownloadForm()
    codes = [c for c in (form.codes.data or []) if c]
    if not form.validate_on_submit() or not two_factor.are_unused_recovery_codes(
        db.session, current_user, codes
    ):
        flash(_("Those recovery codes cannot be downloaded any more."), "error")
        return redirect(url_for("two_factor.settings"))
    title = _("iQSMS Dashboard recovery codes for %(email)s", email=current_user.email)
    text = "\n".join([title, "", *codes, "", _("Each code works once. Keep them somewhere safe.")])
    response = Response(text + "\n", mimetype="text/plain")
    response.headers["Content-Disposition"] = "attachment; filename=iqsms-recovery-codes.txt"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/account/two-factor/disable")
@login_required
def disable() -> ResponseReturnValue:
    """Turn two-factor sign-in off, after a current code or the password."""
    form = ConfirmForm(prefix="disable")
    if _confirmed(form, two_factor.disable)[0]:
        flash(_("Two-factor sign-in is off."))
        return redirect(url_for("two_factor.settings"))
    return _settings_page(ConfirmForm(prefix="regenerate", formdata=None), form, 400)


@bp.route("/two-factor", methods=["GET", "POST"])
@login_required
def verify() -> ResponseReturnValue:
    """The second sign-in step: a code from the app, or a recovery code."""
    target = safe_next_url(request.values.get("next")) or url_for("main.index")
    if not g.get("two_factor_pending"):
        return redirect(target)
    form, status = VerifyForm(next=request.args.get("next", "")), 200
    if form.validate_on_submit():
        try:
            two_factor.verify(
                db.session, current_app.config, current_user, form.code.data, utcnow()
            )
        except two_factor.TwoFactorError as exc:
            db.session.rollback()
            form.code.errors.append(str(exc))
            status = 429 if exc.retry_after else 200
        else:
            two_factor_gate.mark_passed()
            return redirect(target)
    return render_template("two_factor/verify.html", form=form), status


@bp.post("/team/settings/two-factor")
@team_required(Permission.OWN)
def team_requirement() -> ResponseReturnValue:
    """Require two-factor sign-in of every member of the team, or stop requiring it."""
    form = TeamRequirementForm()
    if form.validate_on_submit():
        try:
            two_factor.set_team_requirement(
                db.session, current_team(), bool(form.required.data), current_user
            )
        except two_factor.TwoFactorError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            if form.required.data:
                flash(_("Every member now needs two-factor sign-in to open this team."))
            else:
                flash(_("Two-factor sign-in is no longer required in this team."))
    return redirect(url_for("teams.settings"))
