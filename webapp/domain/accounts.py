"""People's accounts: creating them, signing in with throttling, changing passwords."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.domain.audit import record
from webapp.models import LoginAttempt, User, new_session_token, utcnow

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+\Z")  # \Z: the sign-up form matches from the start
MIN_PASSWORD_LENGTH = 8
MAX_WAIT = timedelta(minutes=15)
KEEP_LOGIN_ATTEMPTS = timedelta(days=7)  # far beyond any throttling window


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


def create_user(session: Session, email: str, password: str) -> User:
    """A new account; the caller commits. Raises AccountError for a bad or taken email."""
    email = normalize_email(email)
    if not EMAIL.fullmatch(email):
        raise AccountError("Enter an email address like name@example.com.")
    check_password_rules(password)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise AccountError("An account with this email already exists. Sign in instead.")
    user = User(email=email, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    return user


def authenticate(
    session: Session, config: Mapping[str, Any], email: str, password: str, ip: str
) -> User:
    """The user with these credentials, or SignInRefused. Every try is recorded, so repeated
    failures for one email or one address make further tries wait, across all processes
    (``config``: the LOGIN_* settings). Commits."""
    email, now = normalize_email(email), utcnow()
    wait = throttle_wait(session, config, email, ip, now)
    if wait:
        raise SignInRefused(
            f"Too many failed sign-ins. Try again in {_in_words(wait)}.", retry_after=wait
        )
    user = session.scalar(select(User).where(User.email == email))
    ok = user is not None and check_password_hash(user.password_hash, password)
    session.add(LoginAttempt(email=email, ip=ip, succeeded=ok, created_at=now))
    if not ok:
        session.commit()
        raise SignInRefused("The email or password is not right.")
    for membership in user.memberships:
        record(session, membership.team_id, "sign_in", user)
    session.commit()
    return user


def throttle_wait(
    session: Session, config: Mapping[str, Any], email: str, ip: str, now: datetime
) -> int:
    """Seconds to wait before the next try: 0 until the failures in the window pass a limit,
    then doubling from 30 s with each further failure, at most 15 minutes."""
    since = now - timedelta(seconds=float(config["LOGIN_WINDOW_SECONDS"]))
    limits = [
        (LoginAttempt.email == email, int(config["LOGIN_FAILURES_PER_EMAIL"])),
        (LoginAttempt.ip == ip, int(config["LOGIN_FAILURES_PER_IP"])),
    ]
    return max(_wait_for(session, condition, limit, since, now) for condition, limit in limits)


def _wait_for(session: Session, condition, limit: int, since: datetime, now: datetime) -> int:
    failures, last = session.execute(
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


def change_password(session: Session, user: User, current: str, new: str) -> None:
    """Set a new password after checking the current one; signs out every other session."""
    if not check_password_hash(user.password_hash, current or ""):
        raise AccountError("Your current password is not right.")
    check_password_rules(new)
    user.password_hash = hash_password(new)
    user.session_token = new_session_token()
    for membership in user.memberships:
        record(session, membership.team_id, "password_changed", user)
    session.commit()


def _in_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} seconds"
    minutes = -(-seconds // 60)
    return f"{minutes} minute{'s' if minutes > 1 else ''}"


def prune_login_attempts(session: Session, now: datetime) -> int:
    """Delete sign-in attempts older than a week, which no throttling window reads any more;
    returns how many went."""
    result = session.execute(
        delete(LoginAttempt).where(LoginAttempt.created_at < now - KEEP_LOGIN_ATTEMPTS)
    )
    session.commit()
    return result.rowcount
