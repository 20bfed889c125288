"""People's accounts: creating them, signing in with throttling, changing passwords."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.domain.audit import record
from webapp.extensions import db
from webapp.models import LoginAttempt, Membership, User, new_session_token, utcnow

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MIN_PASSWORD_LENGTH = 8
MAX_WAIT = timedelta(minutes=15)


class AccountError(ValueError):
    """Something a person can fix: the message says what, in plain words."""


@dataclass(frozen=True)
class SignInRefused(Exception):
    message: str
    retry_after: int = 0  # seconds, when throttled


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def check_password_rules(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Use a password of at least {MIN_PASSWORD_LENGTH} characters.")


def hash_password(password: str) -> str:
    # werkzeug's default is scrypt, a memory-hard algorithm.
    return generate_password_hash(password)


def create_user(email: str, password: str) -> User:
    """A new account; the caller commits. Raises AccountError for a bad or taken email."""
    email = normalize_email(email)
    if not EMAIL.fullmatch(email):
        raise AccountError("Enter an email address like name@example.com.")
    check_password_rules(password)
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise AccountError("An account with this email already exists. Sign in instead.")
    user = User(email=email, password_hash=hash_password(password))
    db.session.add(user)
    db.session.flush()
    return user


def authenticate(email: str, password: str, ip: str) -> User:
    """The user with these credentials, or SignInRefused. Every try is recorded, so repeated
    failures for one email or one address make further tries wait, across all processes."""
    email, now = normalize_email(email), utcnow()
    wait = throttle_wait(email, ip, now)
    if wait:
        raise SignInRefused(
            f"Too many failed sign-ins. Try again in {_in_words(wait)}.", retry_after=wait
        )
    user = db.session.scalar(select(User).where(User.email == email))
    ok = user is not None and check_password_hash(user.password_hash, password)
    db.session.add(LoginAttempt(email=email, ip=ip, succeeded=ok, created_at=now))
    if not ok:
        db.session.commit()
        raise SignInRefused("The email or password is not right.")
    for membership in user.memberships:
        record(db.session, membership.team_id, "sign_in", user)
    db.session.commit()
    return user


def throttle_wait(email: str, ip: str, now: datetime) -> int:
    """Seconds to wait before the next try: 0 until the failures in the window pass a limit,
    then doubling from 30 s with each further failure, at most 15 minutes."""
    config = current_app.config
    since = now - timedelta(seconds=config["LOGIN_WINDOW_SECONDS"])
    waits = [
        _wait_for(LoginAttempt.email == email, config["LOGIN_FAILURES_PER_EMAIL"], since, now),
        _wait_for(LoginAttempt.ip == ip, config["LOGIN_FAILURES_PER_IP"], since, now),
    ]
    return max(waits)


def _wait_for(condition, limit: int, since: datetime, now: datetime) -> int:
    failures, last = db.session.execute(
        select(func.count(), func.max(LoginAttempt.created_at)).where(
            condition, LoginAttempt.created_at >= since, LoginAttempt.succeeded.is_(False)
        )
    ).one()
    if failures < limit or last is None:
        return 0
    if last.tzinfo is None:  # max() skips the column type's conversion on SQLite
        last = datetime.fromisoformat(str(last)).replace(tzinfo=now.tzinfo)
    delay = min(timedelta(seconds=30 * 2 ** (failures - limit)), MAX_WAIT)
    remaining = (last + delay - now).total_seconds()
    return max(0, int(remaining + 0.999))


def change_password(user: User, current: str, new: str) -> None:
    """Set a new password after checking the current one; signs out every other session."""
    if not check_password_hash(user.password_hash, current or ""):
        raise AccountError("Your current password is not right.")
    check_password_rules(new)
    user.password_hash = hash_password(new)
    user.session_token = new_session_token()
    for membership in user.memberships:
        record(db.session, membership.team_id, "password_changed", user)
    db.session.commit()


def memberships_of(user: User) -> list[Membership]:
    """The user's teams, by name."""
    return sorted(user.memberships, key=lambda m: (m.team.name.lower(), m.team_id))


def _in_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} seconds"
    minutes = -(-seconds // 60)
    return f"{minutes} minute{'s' if minutes > 1 else ''}"
