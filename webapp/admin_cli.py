"""Operators' commands: ``flask users ...`` and ``flask teams ...``."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from webapp.domain import accounts, gateways, password_resets, teams
from webapp.extensions import db
from webapp.models import GatewayMode, Membership, Role, Team, User
from webapp.security import public_link

users_cli = AppGroup("users", help="Manage people's accounts.")
teams_cli = AppGroup("teams", help="Manage teams and their gateways.")
NOT_REACHABLE = _l(" (sandbox not reachable now: account made on first use)")


@users_cli.command("create")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_user(email: str, password: str) -> None:
    """Create an account that signs in with EMAIL."""
    try:
        user = accounts.create_user(db.session, email, password)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(_("Created user %(email)s (id %(id)s).", email=user.email, id=user.id))


@users_cli.command("reset-link")
@click.argument("email")
def reset_link(email: str) -> None:
    """Print a one-time link (valid an hour) with which EMAIL sets a new password."""
    user = db.session.scalar(select(User).where(User.email == accounts.normalize_email(email)))
    if user is None:
        raise click.ClickException(_("No user %(email)s; see `flask users create`.", email=email))
    token = password_resets.create_reset(db.session, user)
    db.session.commit()
    click.echo(
        _(
            "A one-time link for %(email)s to set a new password (works for an hour):",
            email=user.email,
        )
    )
    click.echo(public_link("password_reset.reset", token=token))


@teams_cli.command("create")
@click.argument("name")
@click.option("--owner", "owner_email", required=True, help="Email of an existing user.")
def create_team(name: str, owner_email: str) -> None:
    """Create a team owned by an existing user, on the built-in sandbox."""
    owner = db.session.scalar(
        select(User).where(User.email == accounts.normalize_email(owner_email))
    )
    if owner is None:
        raise click.ClickException(
            _("No user %(email)s; create it with `flask users create`.", email=owner_email)
        )
    try:
        team = teams.create_team(db.session, current_app.config, name, owner)
    except teams.TeamError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    note = "" if team.sandbox_account_ready else str(NOT_REACHABLE)
    click.echo(
        _(
            "Created team %(name)r (id %(id)s) owned by %(email)s%(note)s.",
            name=team.name,
            id=team.id,
            email=owner.email,
            note=note,
        )
    )


@teams_cli.command("set-gateway")
@click.argument("team_ref", metavar="TEAM")
@click.option("--sandbox", is_flag=True, help="Use the built-in sandbox.")
@click.option("--url", default="", help="API base URL [https://api.iqsms.ru/messages/v2/].")
@click.option("--login", default="", help="iQSMS login.")
@click.option("--password", default=None, help="iQSMS password (stored encrypted).")
def set_gateway(team_ref: str, sandbox: bool, url: str, login: str, password: str | None) -> None:
    """Point TEAM (its id or exact name) at the sandbox or at an iQSMS account."""
    team = _find_team(team_ref)
    if not sandbox and not login:
        raise click.ClickException(_("Give --login and --password, or --sandbox."))
    try:
        gateways.change_gateway(
            db.session,
            current_app.config,
            team,
            None,
            sandbox=sandbox,
            url=url,
            login=login,
            password=password,
            by="cli",
        )
    except gateways.GatewaySettingsError as exc:
        message = str(exc) if exc.field == "url" else _("Give --password too.")
        raise click.ClickException(message) from exc
    db.session.commit()
    note = "" if not sandbox or team.sandbox_account_ready else str(NOT_REACHABLE)
    click.echo(
        _(
            "Team %(name)r now sends through %(url)s%(note)s.",
            name=team.name,
            url=_url(team),
            note=note,
        )
    )


@teams_cli.command("list")
def list_teams() -> None:
    """Every team with its gateway, status queue and members."""
    all_teams = db.session.scalars(select(Team).order_by(Team.id)).all()
    if not all_teams:
        click.echo(_("No teams yet: `flask teams create NAME --owner EMAIL` makes one."))
    for team in all_teams:
        owners = db.session.scalars(
            select(User.email)
            .join(Membership)
            .where(Membership.team_id == team.id, Membership.role == Role.OWNER)
        ).all()
        members = db.session.scalar(
            select(db.func.count()).select_from(Membership).where(Membership.team_id == team.id)
        )
        mode = "sandbox" if team.gateway_mode == GatewayMode.SANDBOX else team.gateway_login
        click.echo(
            f"{team.id:>4}  {team.name}  gateway: {mode} ({_url(team)})  "
            f"queue: {team.status_queue_name}  members: {members}  owners: {', '.join(owners)}"
        )


def _url(team: Team) -> str:
    return gateways.base_url(current_app.config, team)


def _find_team(ref: str) -> Team:
    """A team by exact name, or by id; a name that several teams share is refused."""
    named = db.session.scalars(select(Team).where(Team.name == ref)).all()
    if len(named) > 1:
        ids = ", ".join(str(t.id) for t in named)
        raise click.ClickException(
            _("Several teams are called %(name)r (ids %(ids)s); give the id.", name=ref, ids=ids)
        )
    team = named[0] if named else (db.session.get(Team, int(ref)) if ref.isdigit() else None)
    if team is None:
        raise click.ClickException(_("No team %(name)r; see `flask teams list`.", name=ref))
    return team
