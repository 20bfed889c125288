"""Teams and their people: creating teams, inviting, roles, removing, deleting."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from webapp.domain import gateways
from webapp.domain.audit import record
from webapp.models import Invitation, Membership, Role, Team, User, utcnow
from webapp.models.user import hash_secret


class TeamError(ValueError):
    """A change the rules do not allow; the message says why in plain words."""


def create_team(session: Session, config: Mapping[str, Any], name: str, owner: User) -> Team:
    """A new team owned by ``owner``, on the built-in sandbox with an account of its own
    (``config``: the gateway settings, see :mod:`webapp.domain.gateways`)."""
    name = (name or "").strip()
    if not name:
        raise TeamError(_("Give the team a name."))
    team = Team(name=name[:100], status_queue_name=gateways.new_status_queue_name(session))
    team.memberships.append(Membership(user=owner, role=Role.OWNER))
    session.add(team)
    session.flush()
    gateways.use_sandbox(config, team)
    owner.last_team_id = team.id
    record(session, team.id, "team_created", owner, name=team.name)
    return team


def rename_team(session: Session, team: Team, name: str, by: User) -> None:
    name = (name or "").strip()
    if not name:
        raise TeamError(_("Give the team a name."))
    before, team.name = team.name, name[:100]
    record(session, team.id, "team_renamed", by, before=before, after=team.name)


SENDING_SETTINGS = ("phone_region", "timezone", "price_per_part", "send_rate")


def change_sending_settings(
    session: Session, team: Team, values: Mapping[str, Any], by: User
) -> None:
    """Set how the team sends (the keys of SENDING_SETTINGS) and record what changed."""
    changed = {}
    for name in SENDING_SETTINGS:
        before = str(getattr(team, name))
        setattr(team, name, values[name])
        if str(getattr(team, name)) != before:
            changed[name] = [before, str(getattr(team, name))]
    if changed:
        record(session, team.id, "sending_settings_changed", by, **changed)


def owners_count(session: Session, team: Team) -> int:
    return session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.team_id == team.id, Membership.role == Role.OWNER)
    )


def change_role(session: Session, team: Team, membership: Membership, role: Role, by: User) -> None:
    """Give a member another role. Only owners make or unmake owners; the last owner stays."""
    actor = _membership(session, team, by)
    if Role.OWNER in (role, membership.role_enum) and actor.role_enum != Role.OWNER:
        raise TeamError(_("Only an owner can make someone an owner or change an owner's role."))
    if membership.role == Role.OWNER and role != Role.OWNER and owners_count(session, team) == 1:
        raise TeamError(_("A team needs an owner: make someone else an owner first."))
    before = membership.role
    membership.role = role
    record(
        session,
        team.id,
        "role_changed",
        by,
        member=membership.user.email,
        before=before,
        after=role,
    )


def remove_member(session: Session, team: Team, membership: Membership, by: User) -> None:
    """Take someone out of the team (or let them leave); never its last owner."""
    actor = _membership(session, team, by)
    if membership.role == Role.OWNER and actor.role_enum != Role.OWNER:
        raise TeamError(_("Only an owner can remove an owner."))
    if membership.role == Role.OWNER and owners_count(session, team) == 1:
        raise TeamError(_("The last owner cannot leave: make someone else an owner first."))
    email = membership.user.email
    if membership.user.last_team_id == team.id:
        membership.user.last_team_id = None
    session.delete(membership)
    record(
        session,
        team.id,
        "member_removed" if membership.user_id != by.id else "member_left",
        by,
        member=email,
    )


def invite(
    session: Session, team: Team, role: Role, by: User, note: str | None, *, ttl_hours: float
) -> tuple[Invitation, str]:
    """A one-time invitation link's token (shown once; only its hash is kept), usable for
    ``ttl_hours`` (the INVITATION_TTL_HOURS setting)."""
    if role == Role.OWNER and _membership(session, team, by).role_enum != Role.OWNER:
        raise TeamError(_("Only an owner can invite another owner."))
    token = secrets.token_urlsafe(24)
    invitation = Invitation(
        team=team,
        role=role,
        token_hash=hash_secret(token),
        note=(note or "").strip()[:254],
        created_by_id=by.id,
        expires_at=utcnow() + timedelta(hours=float(ttl_hours)),
    )
    session.add(invitation)
    record(session, team.id, "member_invited", by, role=role, note=invitation.note)
    return invitation, token


def find_invitation(session: Session, token: str) -> Invitation | None:
    """The invitation behind a link, if it can still be used."""
    invitation = session.scalar(
        select(Invitation).where(Invitation.token_hash == hash_secret(token or ""))
    )
    if invitation is None or not invitation.usable(utcnow()):
        return None
    return invitation


def accept_invitation(session: Session, invitation: Invitation, user: User) -> Membership:
    """Join the team; someone already in it keeps their role. The link is then used up."""
    now = utcnow()
    # One atomic claim, so two people racing with the same link cannot both use it.
    claimed = session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation.id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > now,
        )
        .values(accepted_at=now, accepted_by_id=user.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise TeamError(_("This invitation has expired or was already used."))
    membership = _membership(session, invitation.team, user, required=False)
    if membership is None:
        membership = Membership(team=invitation.team, user=user, role=invitation.role)
        session.add(membership)
        record(session, invitation.team_id, "member_joined", user, role=invitation.role)
    user.last_team_id = invitation.team_id
    return membership


def revoke_invitation(session: Session, invitation: Invitation, by: User) -> None:
    invitation.revoked_at = utcnow()
    record(session, invitation.team_id, "invitation_revoked", by, role=invitation.role)


def delete_team(session: Session, team: Team, by: User) -> None:
    """Delete the team and everything it owns (rows cascade from the team)."""
    if _membership(session, team, by).role_enum != Role.OWNER:
        raise TeamError(_("Only an owner can delete the team."))
    for user in session.scalars(select(User).where(User.last_team_id == team.id)):
        user.last_team_id = None
    session.delete(team)


def memberships(session: Session, team: Team) -> list[Membership]:
    """The team's members, in the order they joined."""
    query = select(Membership).where(Membership.team_id == team.id)
    return list(session.scalars(query.order_by(Membership.created_at)))


def open_invitations(session: Session, team: Team) -> list[Invitation]:
    """The team's invitation links that still work, newest first."""
    query = select(Invitation).where(Invitation.team_id == team.id)
    now = utcnow()
    return [
        i for i in session.scalars(query.order_by(Invitation.created_at.desc())) if i.usable(now)
    ]


def _membership(
    session: Session, team: Team, user: User, *, required: bool = True
) -> Membership | None:
    membership = session.scalar(
        select(Membership).where(Membership.team_id == team.id, Membership.user_id == user.id)
    )
    if membership is None and required:
        raise TeamError(_("You are not a member of this team."))
    return membership
