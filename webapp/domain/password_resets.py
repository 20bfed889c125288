"""Password reset links: one-time, valid for an hour, kept only as a hash of their token;
using one sets the password and ends every sign-in session of the account."""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from webapp.domain.accounts import AccountError, normalize_email, set_password
from webapp.domain.audit import record
from webapp.models import User, utcnow
from webapp.models.user import PasswordReset, hash_secret

RESET_TTL = timedelta(hours=1)
# One mailed link per account per this long: "Forgot password?" cannot flood a mailbox.
RESEND_AFTER = timedelta(minutes=2)


class ResetError(ValueError):
    """The link cannot be used (expired, used, unknown): the message says so."""


def create_reset(session: Session, user: User) -> str:
    """A new reset link's token for ``user`` (shown or mailed once; only its hash is kept).
    The caller commits."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        PasswordReset(
            user_id=user.id,
            token_hash=hash_secret(token),
            created_at=now,
            expires_at=now + RESET_TTL,
        )
    )
    session.flush()
    return token


def request_reset(session: Session, email: str) -> tuple[User, str] | None:
    """For "Forgot password?": the account and a new token to mail, or None when there is no
    such account or a link was sent moments ago. Commits."""
    user = session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        return None
    recent = session.scalar(
        select(PasswordReset.id).where(
            PasswordReset.user_id == user.id,
            PasswordReset.created_at > utcnow() - RESEND_AFTER,
        )
    )
    if recent is not None:
        return None
    token = create_reset(session, user)
    session.commit()
    return user, token


def find_reset(session: Session, token: str) -> PasswordReset | None:
    """The reset behind a link, if it can still be used."""
    reset = session.scalar(
        select(PasswordReset).where(PasswordReset.token_hash == hash_secret(token or ""))
    )
    if reset is None or reset.used_at is not None or reset.expires_at <= utcnow():
        return None
    return reset


def reset_password(session: Session, token: str, new_password: str) -> User:
    """Use a reset link: the password is set (its rules checked: AccountError), the link and
    every other open link used up, every sign-in session of the account ended. Commits."""
    reset = find_reset(session, token)
    if reset is None:
        raise ResetError(_("This reset link has expired or was already used."))
    now = utcnow()
    # One atomic claim first: two tabs racing with the same link cannot both use it.
    claimed = session.execute(
        update(PasswordReset)
        .where(
            PasswordReset.id == reset.id,
            PasswordReset.used_at.is_(None),
            PasswordReset.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        session.rollback()
        raise ResetError(_("This reset link has expired or was already used."))
    user = reset.user
    try:
        set_password(session, user, new_password, keep_secret=None)
    except AccountError:
        session.rollback()  # the link stays usable for a better password
        raise
    for membership in user.memberships:
        record(session, membership.team_id, "password_reset", user)
    session.commit()
    return user
