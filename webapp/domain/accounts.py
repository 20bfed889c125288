"""People's accounts: creating them, passwords, signing in with throttling, and the sign-in
sessions kept on the server (one row per sign-in, ended by signing out or a password change)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from webapp import texts
from webapp.domain.audit import record
from webapp.domain.password_feedback import feedback_text
from webapp.models import LoginAttempt, User, utcnow
from webapp.models.user import PasswordReset, SignInSession, hash_secret
from webapp.phones import normalize_phone

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+\Z")  # \Z: the sign-up form matches from the start
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128  # hashing is slow on purpose: no megabyte passwords
# zxcvbn's scores run 0-4; 3 is "safely unguessable" against an online attack and a slow hash.
MIN_PASSWORD_SCORE = 3
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


def check_password_rules(password: str, user_inputs: Iterable[str] = ()) -> None:
    """Refuse a password that is too short, too long, common or guessable (``user_inputs``:
    what the person typed elsewhere, such as their email and team name, which a password
    must not lean on). The message says why, in plain words."""
    password = password or ""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            ngettext(
                "Use a password of at least %(num)s character.",
                "Use a password of at least %(num)s characters.",
                MIN_PASSWORD_LENGTH,
            )
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(
            ngettext(
                "Use a password of at most %(num)s character.",
                "Use a password of at most %(num)s characters.",
                MAX_PASSWORD_LENGTH,
            )
        )
    from zxcvbn import zxcvbn  # its dictionaries take a moment to load: only when needed

    inputs = [word for value in user_inputs if value for word in _words(value)]
    estimate = zxcvbn(password, user_inputs=inputs)
    if estimate["score"] < MIN_PASSWORD_SCORE:
        why = feedback_text(estimate["feedback"])
        if not why:
            raise AccountError(_("This password is too easy to guess."))
        raise AccountError(_("This password is too easy to guess. %(why)s", why=why))


def _words(value: str) -> list[str]:
    # "ann.lee@example.com" is guessed from "ann", "lee" and "example" as well as whole.
    return [value.lower(), *(w for w in re.split(r"[^\w]+", value.lower()) if len(w) > 2)]


def hash_password(password: str) -> str:
    # werkzeug's default is scrypt, a memory-hard algorithm.
    return generate_password_hash(password)


@cache
def _unknown_account_hash() -> str:
    """A hash made like every account's, checked when the email is unknown, so that signing
    in takes the same work (one scrypt) whether or not the email has an account."""
    return hash_password(secrets.token_urlsafe(16))


def create_user(
    session: Session, email: str, password: str, user_inputs: Iterable[str] = ()
) -> User:
    """A new account; the caller commits. Raises AccountError for a bad or taken email or a
    weak password."""
    email = normalize_email(email)
    if not EMAIL.fullmatch(email):
        raise AccountError(_("Enter an email address like name@example.com."))
    check_password_rules(password, [email, *user_inputs])
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise AccountError(_("An account with this email already exists. Sign in instead."))
    user = User(email=email, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    return user


def authenticate(
    session: Session, config: Mapping[str, Any], email: str, password: str, ip: str
) -> User:
    """The user with these credentials, or SignInRefused. Every try is recorded, so repeated
    failures from one address, or for one email from one address, make further tries wait,
    across all processes (``config``: the LOGIN_* settings). Commits."""
    email, now = normalize_email(email), utcnow()
    wait = throttle_wait(session, config, email, ip, now)
    if wait:
        raise SignInRefused(
            _("Too many failed sign-ins. Try again in %(wait)s.", wait=_in_words(wait)),
            retry_after=wait,
        )
    user = session.scalar(select(User).where(User.email == email))
    stored = user.password_hash if user is not None else _unknown_account_hash()
    ok = check_password_hash(stored, password or "") and user is not None
    session.add(LoginAttempt(email=email, ip=ip, succeeded=ok, created_at=now))
    if not ok:
        session.commit()
        raise SignInRefused(_("The email or password is not right."))
    for membership in user.memberships:
        record(session, membership.team_id, "sign_in", user)
    session.commit()
    return user


def throttle_wait(
    session: Session, config: Mapping[str, Any], email: str, ip: str, now: datetime
) -> int:
    """Seconds to wait before the next try: 0 until the failures in the window pass a limit,
    then doubling from 30 s with each further failure, at most 15 minutes. Failures count per
    address and per email from that address: a stranger elsewhere cannot lock an account's
    owner out, only themselves."""
    since = now - timedelta(seconds=float(config["LOGIN_WINDOW_SECONDS"]))
    limits = [
        (
            (LoginAttempt.ip == ip) & (LoginAttempt.email == email),
            int(config["LOGIN_FAILURES_PER_ACCOUNT_IP"]),
        ),
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
    delay = min(timedelta(seconds=30 * 2 ** min(failures - limit, 16)), MAX_WAIT)
    remaining = (last + delay - now).total_seconds()
    return max(0, int(remaining + 0.999))


def change_password(session: Session, user: User, current: str, new: str) -> None:
    """Set a new password after checking the current one; ends every other sign-in session
    of the account (the one ``user`` was loaded for stays). Commits."""
    if not check_password_hash(user.password_hash, current or ""):
        raise AccountError(_("Your current password is not right."))
    set_password(session, user, new, keep_secret=user.sign_in_secret)
    for membership in user.memberships:
        record(session, membership.team_id, "password_changed", user)
    session.commit()


def set_phone(session: Session, user: User, typed: str, region: str) -> str | None:
    """Keep the person's own phone (where their test sends go by default), normalised as
    every phone is, or forget it when ``typed`` is empty; the phone kept. Commits."""
    phone = None
    if (typed or "").strip():
        result = normalize_phone(typed, region)
        if result.phone is None:
            problem = texts.shown(result.error)
            raise AccountError(
                _("That is %(problem)s. Type it like +7 916 123-45-67.", problem=problem)
            )
        phone = result.phone
    user.phone = phone
    session.commit()
    return phone


def set_language(session: Session, user: User, language: str | None) -> None:
    """Keep the language the person reads the dashboard in (None: their browser's). Commits."""
    user.language = language
    session.commit()


def set_password(session: Session, user: User, new: str, keep_secret: str | None) -> None:
    """The one way a password changes (own change or reset link): rules checked, every
    sign-in session but ``keep_secret``'s ended, every open reset link voided."""
    check_password_rules(new, [user.email])
    user.password_hash = hash_password(new)
    ended = delete(SignInSession).where(SignInSession.user_id == user.id)
    if keep_secret:
        ended = ended.where(SignInSession.secret_hash != hash_secret(keep_secret))
    session.execute(ended)
    session.execute(
        PasswordReset.__table__.update()
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=utcnow())
    )


# -- sign-in sessions ----------------------------------------------------------------------------


def start_session(session: Session, user: User, *, ip: str, user_agent: str, remember: bool) -> str:
    """A new sign-in session of ``user`` (after the password check); returns its secret,
    which only the person's cookies hold. Sets ``user.sign_in_secret``. Commits."""
    secret = secrets.token_urlsafe(32)
    session.add(
        SignInSession(
            user_id=user.id,
            secret_hash=hash_secret(secret),
            public_id=secrets.token_urlsafe(12),
            ip=ip[:45],
            user_agent=(user_agent or "")[:200],
            remember=remember,
        )
    )
    session.commit()
    user.sign_in_secret = secret
    return secret


def end_session(session: Session, secret: str | None) -> None:
    """Sign-out: the session (and any remember-me cookie made with it) stops working here and
    in every copy of its cookies. Commits."""
    if secret:
        session.execute(
            delete(SignInSession).where(SignInSession.secret_hash == hash_secret(secret))
        )
    session.commit()


def sessions_of(session: Session, user: User) -> list[SignInSession]:
    """The person's sign-in sessions, newest first."""
    query = select(SignInSession).where(SignInSession.user_id == user.id)
    return list(session.scalars(query.order_by(SignInSession.created_at.desc())))


def current_session_id(session: Session, user: User) -> str | None:
    """The public id of the sign-in session ``user`` was loaded for."""
    if not user.sign_in_secret:
        return None
    return session.scalar(
        select(SignInSession.public_id).where(
            SignInSession.secret_hash == hash_secret(user.sign_in_secret)
        )
    )


def end_session_by_id(session: Session, user: User, public_id: str) -> bool:
    """End one of the person's own sessions (from the Account page); False if it is not one
    of theirs or has ended already. Commits."""
    ended = session.execute(
        delete(SignInSession).where(
            SignInSession.user_id == user.id, SignInSession.public_id == (public_id or "")
        )
    ).rowcount
    session.commit()
    return ended == 1


def _in_words(seconds: int) -> str:
    if seconds < 60:
        return ngettext("%(num)s second", "%(num)s seconds", seconds)
    minutes = -(-seconds // 60)
    return ngettext("%(num)s minute", "%(num)s minutes", minutes)


def prune_login_attempts(
    session: Session, now: datetime, session_lifetime: timedelta = timedelta(days=30)
) -> int:
    """Delete sign-in attempts older than a week, which no throttling window reads any more,
    sign-in sessions older than ``session_lifetime`` (the remember-me cookie's), and reset
    links past their hour; returns how many rows went."""
    gone = 0
    for statement in (
        delete(LoginAttempt).where(LoginAttempt.created_at < now - KEEP_LOGIN_ATTEMPTS),
        delete(SignInSession).where(SignInSession.created_at < now - session_lifetime),
        delete(PasswordReset).where(PasswordReset.expires_at < now),
    ):
        gone += session.execute(statement).rowcount
    session.commit()
    return gone
