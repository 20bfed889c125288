"""Teams and their people: creating teams, inviting, roles, removing, deleting."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, update

from webapp.domain import gateways
from webapp.domain.audit import record
from webapp.extensions import db
from webapp.models import Invitation, Membership, Role, Team, User, utcnow


class TeamError(ValueError):
    """A change the rules do not allow; the message says why in plain words."""


def create_team(name: str, owner: User) -> Team:
    """A new team owned by ``owner``, on the built-in sandbox with an account of its own."""
    name = (name or "").strip()
    if not name:
        raise TeamError("Give the team a name.")
    team = Team(name=name[:100], status_queue_name=gateways.new_status_queue_name())
    team.memberships.append(Membership(user=owner, role=Role.OWNER))
    db.session.add(team)
    db.session.flush()
    gateways.use_sandbox(team)
    owner.last_team_id = team.id
    record(db.session, team.id, "team_created", owner, name=team.name)
    return team


def owners_count(team: Team) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.team_id == team.id, Membership.role == Role.OWNER)
    )


def change_role(team: Team, membership: Membership, role: Role, by: User) -> None:
    """Give a member another role. Only owners make or unmake owners; the last owner stays."""
    actor = _membership(team, by)
    if Role.OWNER in (role, membership.role_enum) and actor.role_enum != Role.OWNER:
        raise TeamError("Only an owner can make someone an owner or change an owner's role.")
    if membership.role == Role.OWNER and role != Role.OWNER and owners_count(team) == 1:
        raise TeamError("A team needs an owner: make someone else an owner first.")
    before = membership.role
    membership.role = role
    record(
        db.session,
        team.id,
        "role_changed",
        by,
        member=membership.user.email,
        before=before,
        after=role,
    )


def remove_member(team: Team, membership: Membership, by: User) -> None:
    """Take someone out of the team (or let them leave); never its last owner."""
    actor = _membership(team, by)
    if membership.role == Role.OWNER and actor.role_enum != Role.OWNER:
        raise TeamError("Only an owner can remove an owner.")
    if membership.role == Role.OWNER and owners_count(team) == 1:
        raise TeamError("The last owner cannot leave: make someone else an owner first.")
    email = membership.user.email
    if membership.user.last_team_id == team.id:
        membership.user.last_team_id = None
    db.session.delete(membership)
    record(
        db.session,
        team.id,
        "member_removed" if membership.user_id != by.id else "member_left",
        by,
        member=email,
    )


def invite(team: Team, role: Role, by: User, note: str = "") -> tuple[Invitation, str]:
    """A one-time invitation link's token (shown once; only its hash is kept)."""
    if role == Role.OWNER and _membership(team, by).role_enum != Role.OWNER:
        raise TeamError("Only an owner can invite another owner.")
    token = secrets.token_urlsafe(24)
    invitation = Invitation(
        team=team,
        role=role,
        token_hash=hash_token(token),
        note=note.strip()[:254],
        created_by_id=by.id,
        expires_at=utcnow() + timedelta(hours=current_app.config["INVITATION_TTL_HOURS"]),
    )
    db.session.add(invitation)
    record(db.session, team.id, "member_invited", by, role=role, note=invitation.note)
    return invitation, token


def find_invitation(token: str) -> Invitation | None:
    """The invitation behind a link, if it can still be used."""
    invitation = db.session.scalar(
        select(Invitation).where(Invitation.token_hash == hash_token(token or ""))
    )
    if invitation is None or not invitation.usable(utcnow()):
        return None
    return invitation


def accept_invitation(invitation: Invitation, user: User) -> Membership:
    """Join the team; someone already in it keeps their role. The link is then used up."""
    now = utcnow()
    # One atomic claim, so two people racing with the same link cannot both use it.
    claimed = db.session.execute(
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
        raise TeamError("This invitation has expired or was already used.")
    membership = _membership(invitation.team, user, required=False)
    if membership is None:
        membership = Membership(team=invitation.team, user=user, role=invitation.role)
        db.session.add(membership)
        record(db.session, invitation.team_id, "member_joined", user, role=invitation.role)
    user.last_team_id = invitation.team_id
    return membership


def revoke_invitation(invitation: Invitation, by: User) -> None:
    invitation.revoked_at = utcnow()
    record(db.session, invitation.team_id, "invitation_revoked", by, role=invitation.role)


def delete_team(team: Team, by: User) -> None:
    """Delete the team and everything it owns (rows cascade from the team)."""
    if _membership(team, by).role_enum != Role.OWNER:
        raise TeamError("Only an owner can delete the team.")
    for user in db.session.scalars(select(User).where(User.last_team_id == team.id)):
        user.last_team_id = None
    db.session.delete(team)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _membership(team: Team, user: User, *, required: bool = True) -> Membership | None:
    membership = db.session.scalar(
        select(Membership).where(Membership.team_id == team.id, Membership.user_id == user.id)
    )
    if membership is None and required:
        raise TeamError("You are not a member of this team.")
    return membership
