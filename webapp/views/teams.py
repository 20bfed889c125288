"""The team: members and roles, invitations, switching and creating teams, settings, audit log."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from webapp import mail, paging
from webapp.access import Permission, can, current_team, switch_team, team_required, team_scoped
from webapp.domain import teams
from webapp.domain.accounts import EMAIL
from webapp.domain.gateway_calls import release_connection
from webapp.extensions import db
from webapp.forms.teams import (
    DeleteTeamForm,
    InviteForm,
    RoleForm,
    SendingSettingsForm,
    TeamForm,
)
from webapp.models import AuditEvent, Invitation, Membership, Role
from webapp.security import public_link

bp = Blueprint("teams", __name__)

AUDIT_PAGE = 50


@bp.get("/team")
@team_required()
def members() -> ResponseReturnValue:
    """The team's members and their roles; admins also see and manage invitations."""
    return _members_page(_invite_form())


def _invite_form(**kwargs) -> InviteForm:
    form = InviteForm(**kwargs)
    if not can(Permission.OWN):  # only owners make owners
        form.role.choices = [c for c in form.role.choices if c.value != Role.OWNER]
    return form


def _members_page(invite_form: InviteForm, new_link: str | None = None) -> ResponseReturnValue:
    team = current_team()
    invitations = teams.open_invitations(db.session, team) if can(Permission.MANAGE) else []
    return render_template(
        "teams/members.html",
        memberships=teams.memberships(db.session, team),
        invitations=invitations,
        invite_form=invite_form,
        role_form=RoleForm(),
        new_link=new_link,
        owner_roles=[r.value for r in Role] if can(Permission.OWN) else None,
    )


@bp.post("/team/invitations")
@team_required(Permission.MANAGE)
def invite() -> ResponseReturnValue:
    """Create a one-time invitation link and show it (once) to pass on."""
    form = _invite_form()
    if not form.validate_on_submit():
        return _members_page(form), 400
    try:
        _invitation, token = teams.invite(
            db.session,
            current_team(),
            Role(form.role.data),
            current_user,
            form.note.data,
            ttl_hours=current_app.config["INVITATION_TTL_HOURS"],
        )
    except teams.TeamError as exc:
        form.role.errors.append(str(exc))
        return _members_page(form), 400
    db.session.commit()
    link = public_link("invitations.accept", token=token)
    if mail.mail_configured(current_app.config) and EMAIL.fullmatch(form.note.data or ""):
        # A note that is an email address is where the link goes: mailed, not shown.
        hours = current_app.config["INVITATION_TTL_HOURS"]
        role = Role(form.role.data).label
        message = mail.invitation_mail(current_team().name, role, link, hours)
        release_connection(db.session)  # no transaction open while the mail server answers
        try:
            mail.send_mail(current_app.config, form.note.data, *message)
        except mail.MailError:
            flash(_("The invitation could not be mailed; pass the link on yourself."), "error")
        else:
            flash(_("The invitation link was mailed to %(email)s.", email=form.note.data))
            return _members_page(_invite_form(formdata=None))
    return _members_page(_invite_form(formdata=None), new_link=link)


@bp.post("/team/invitations/<int:invitation_id>/revoke")
@team_required(Permission.MANAGE)
def revoke(invitation_id: int) -> ResponseReturnValue:
    """Make an unused invitation link stop working."""
    teams.revoke_invitation(db.session, team_scoped(Invitation, invitation_id), current_user)
    db.session.commit()
    flash(_("The invitation link no longer works."))
    return redirect(url_for("teams.members"))


@bp.post("/team/members/<int:membership_id>/role")
@team_required(Permission.MANAGE)
def change_role(membership_id: int) -> ResponseReturnValue:
    """Give a member another role."""
    membership = team_scoped(Membership, membership_id)
    form = RoleForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        teams.change_role(
            db.session, current_team(), membership, Role(form.role.data), current_user
        )
    except teams.TeamError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(
            _("%(email)s is now %(role)s.", email=membership.user.email, role=membership.role_label)
        )
    return redirect(url_for("teams.members"))


@bp.post("/team/members/<int:membership_id>/remove")
@team_required(Permission.MANAGE)
def remove(membership_id: int) -> ResponseReturnValue:
    """Take someone out of the team."""
    membership = team_scoped(Membership, membership_id)
    return _remove(membership, _("%(email)s was removed.", email=membership.user.email))


@bp.post("/team/leave")
@team_required()
def leave() -> ResponseReturnValue:
    """Leave the current team."""
    membership = team_scoped(Membership, g.membership.id)
    return _remove(membership, _("You left %(team)s.", team=current_team().name))


def _remove(membership: Membership, done: str) -> ResponseReturnValue:
    try:
        teams.remove_member(db.session, current_team(), membership, current_user)
    except teams.TeamError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("teams.members"))
    db.session.commit()
    if membership.user_id == current_user.id:
        session.pop("team_id", None)
        flash(done)
        return redirect(url_for("main.index", team_id=None))  # not the team just left
    flash(done)
    return redirect(url_for("teams.members"))


@bp.route("/teams/new", methods=["GET", "POST"])
@login_required
def new() -> ResponseReturnValue:
    """Create another team, owned by the person creating it, and switch to it."""
    form = TeamForm()
    if form.validate_on_submit():
        team = teams.create_team(db.session, current_app.config, form.name.data, current_user)
        db.session.commit()
        session["team_id"] = team.id
        flash(_("Team %(name)s is ready, on the sandbox.", name=team.name))
        return redirect(url_for("main.index", team_id=team.id))
    return render_template("teams/new.html", form=form)


@bp.post("/teams/switch")
@login_required
def switch() -> ResponseReturnValue:
    """Make another of one's teams the current one."""
    try:
        team_id = int(request.form.get("team_id", ""))
    except ValueError:
        abort(404)
    team = switch_team(team_id)
    flash(_("Now working in %(team)s.", team=team.name))
    return redirect(url_for("main.index", team_id=team.id))


@bp.route("/team/settings", methods=["GET", "POST"])
@team_required(Permission.MANAGE)
def settings() -> ResponseReturnValue:
    """Rename the team and set how it sends (region, time zone, price per part, rate); owners
    may also delete it."""
    team = current_team()
    if "sending-timezone" in request.form:
        return _sending_settings(team)
    form = TeamForm(obj=team)
    if form.validate_on_submit():
        teams.rename_team(db.session, team, form.name.data, current_user)
        db.session.commit()
        flash(_("The team is now called %(name)s.", name=team.name))
        return redirect(url_for("teams.settings"))
    return render_template(
        "teams/settings.html",
        form=form,
        delete_form=DeleteTeamForm(),
        sending_form=SendingSettingsForm(obj=team, prefix="sending", formdata=None),
    )


def _sending_settings(team) -> ResponseReturnValue:
    form = SendingSettingsForm(prefix="sending")
    if not form.validate_on_submit():
        return render_template(
            "teams/settings.html",
            form=TeamForm(obj=team, formdata=None),
            delete_form=DeleteTeamForm(),
            sending_form=form,
        ), 400
    teams.change_sending_settings(db.session, team, form.data, current_user)
    db.session.commit()
    flash(_("Sending settings saved."))
    return redirect(url_for("teams.settings"))


@bp.post("/team/delete")
@team_required(Permission.OWN)
def delete() -> ResponseReturnValue:
    """Delete the team and everything in it, once its name is typed to confirm."""
    team = current_team()
    form = DeleteTeamForm()
    if not form.validate_on_submit() or form.confirm_name.data.strip() != team.name:
        form.confirm_name.errors.append(_("Type the team's name exactly to delete it."))
        return render_template(
            "teams/settings.html",
            form=TeamForm(obj=team),
            delete_form=form,
            sending_form=SendingSettingsForm(obj=team, prefix="sending", formdata=None),
        ), 400
    name = team.name
    teams.delete_team(db.session, team, current_user)
    db.session.commit()
    session.pop("team_id", None)
    flash(_("Team %(name)s was deleted.", name=name))
    return redirect(url_for("main.index", team_id=None))  # not the team just deleted


@bp.get("/team/audit")
@team_required(Permission.MANAGE)
def audit() -> ResponseReturnValue:
    """The team's audit log, newest first, a page at a time (keyset on id)."""
    query = select(AuditEvent).where(AuditEvent.team_id == current_team().id)
    before = request.args.get("before", type=int)
    if before:
        query = query.where(AuditEvent.id < before)
    events, more = paging.first_rows(db.session, query.order_by(AuditEvent.id.desc()), AUDIT_PAGE)
    return render_template(
        "teams/audit.html", events=events, next_before=paging.next_key(events, more)
    )
