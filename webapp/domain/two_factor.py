"""Two-factor sign-in: TOTP enrolment, codes (each usable once), recovery codes, throttling,
and the team setting by which owners require it of every member.

The secret is kept encrypted with the app's ENCRYPTION_KEY (the one home of that rule is
``webapp.domain.gateways``); recovery codes are kept as hashes only. Whether a browser session
has passed the second step is the web layer's business (``webapp/two_factor_gate.py``).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pyotp
import segno
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext
from sqlalchemy import delete, func, inspect, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from webapp.domain.audit import record
from webapp.domain.gateways import decrypt_secret, encrypt_secret
from webapp.models import RecoveryCode, Team, TwoFactor, User
from webapp.models.user import hash_secret

ISSUER = "iQSMS Dashboard"
RECOVERY_CODES = 10
# 12 letters and digits without look-alikes (0/o, 1/l/i): about 59 bits, shown as xxxx-xxxx-xxxx.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_LENGTH = 12
# Throttling, as sign-in does: after this many wrong codes in a row each try waits, from 30 s,
# doubling with each further failure, at most 15 minutes. A right code resets the count.
FAILURES_BEFORE_WAIT = 5
FIRST_WAIT = timedelta(seconds=30)
MAX_WAIT = timedelta(minutes=15)


@dataclass(frozen=True)
class TwoFactorError(Exception):
    """A code or password that was not accepted; the message says why, in plain words."""

    message: Any  # a lazy string: translated where it is shown
    retry_after: int = 0  # seconds, when throttled

    def __str__(self) -> str:
        return str(self.message)


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows: the secret for typing in, and its QR code."""

    secret: str
    uri: str
    qr_svg: str = field(repr=False)


def state(session: Session, user: User) -> TwoFactor | None:
    # Loaded with the signed-in person (webapp/models/user.py) until a commit expires it.
    if "two_factor" in inspect(user).dict:
        return user.two_factor
    return session.get(TwoFactor, user.id)


def is_enabled(session: Session, user: User) -> bool:
    row = state(session, user)
    return row is not None and row.enabled_at is not None


def start_enrolment(session: Session, config: Mapping[str, Any], user: User) -> None:
    """A new secret for the person to add to their app; pending until a code confirms it.
    Starting again replaces a pending secret, never an enabled one. Commits."""
    row = state(session, user)
    if row is not None and row.enabled_at is not None:
        raise TwoFactorError(_l("Two-factor sign-in is already on."))
    secret = encrypt_secret(config, pyotp.random_base32())
    if row is None:
        session.add(TwoFactor(user_id=user.id, secret_encrypted=secret))
    else:
        row.secret_encrypted, row.last_step = secret, 0
    session.commit()


def pending_enrolment(session: Session, config: Mapping[str, Any], user: User) -> Enrolment | None:
    """The secret waiting for a first code, with what the enrolment page shows of it."""
    row = state(session, user)
    if row is None or row.enabled_at is not None:
        return None
    secret = decrypt_secret(config, row.secret_encrypted)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    # Inline SVG markup, made here: no image service sees the secret, and the page's CSP
    # (no data: images needed) holds.
    svg = segno.make(uri, error="m").svg_inline(scale=5, border=2, title=ISSUER, omitsize=True)
    return Enrolment(secret=secret, uri=uri, qr_svg=svg)


def finish_enrolment(
    session: Session, config: Mapping[str, Any], user: User, code: str, now: datetime
) -> list[str]:
    """Turn two-factor sign-in on once a current code from the app is typed; returns the ten
    recovery codes, to show once. Audited in each of the person's teams. Commits."""
    row = state(session, user)
    if row is None or row.enabled_at is not None:
        raise TwoFactorError(_l("Start the set-up again: there is no code to confirm."))
    _check_totp(session, config, row, code, now)
    row.enabled_at = now
    codes = _new_recovery_codes(session, user, now)
    _audit(session, user, "two_factor_enabled")
    session.commit()
    return codes


def verify(
    session: Session, config: Mapping[str, Any], user: User, code: str, now: datetime
) -> None:
    """Accept a current code from the app or an unused recovery code (second sign-in step).
    Raises TwoFactorError for a wrong, replayed or throttled one. Commits."""
    row = state(session, user)
    if row is None or row.enabled_at is None:
        raise TwoFactorError(_l("Two-factor sign-in is not on for this account."))
    code = normalize(code)
    if len(code) == RECOVERY_LENGTH:
        _use_recovery_code(session, row, user, code, now)
    else:
        _check_totp(session, config, row, code, now)
    session.commit()


def disable(
    session: Session, config: Mapping[str, Any], user: User, code_or_password: str, now: datetime
) -> None:
    """Turn two-factor sign-in off, after a current code or the account's password. Commits."""
    row = _confirm(session, config, user, code_or_password, now)
    session.delete(row)
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    _audit(session, user, "two_factor_disabled")
    session.commit()


def regenerate_recovery_codes(
    session: Session, config: Mapping[str, Any], user: User, code_or_password: str, now: datetime
) -> list[str]:
    """Ten new recovery codes, after a current code or the password; the old ones stop
    working. Commits."""
    _confirm(session, config, user, code_or_password, now)
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = _new_recovery_codes(session, user, now)
    _audit(session, user, "two_factor_recovery_codes_regenerated")
    session.commit()
    return codes


def remaining_recovery_codes(session: Session, user: User) -> int:
    return session.scalar(
        select(func.count()).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )


def are_unused_recovery_codes(session: Session, user: User, codes: list[str]) -> bool:
    """Whether every one of ``codes`` is an unused recovery code of ``user`` (so that a page
    may hand them back as a file without echoing anything else)."""
    hashes = {hash_secret(normalize(code)) for code in codes}
    found = session.scalars(
        select(RecoveryCode.code_hash).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.used_at.is_(None),
            RecoveryCode.code_hash.in_(hashes),
        )
    ).all()
    return bool(hashes) and set(found) == hashes


def set_team_requirement(session: Session, team: Team, required: bool, user: User) -> None:
    """Require two-factor sign-in of every member (an owner's choice; the caller checks the
    role). The owner must have it on first, so that the change does not lock them out."""
    if required and not is_enabled(session, user):
        raise TwoFactorError(_l("Turn on two-factor sign-in for your own account first."))
    if team.two_factor_required != required:
        team.two_factor_required = required
        record(session, team.id, "two_factor_requirement_changed", user, required=required)


def normalize(code: str) -> str:
    """A code as typed, without spaces and dashes, lower-cased."""
    return "".join((code or "").split()).replace("-", "").lower()


def throttle_wait(row: TwoFactor, now: datetime) -> int:
    """Seconds before the next code may be tried; 0 if it may be tried now."""
    if row.failures < FAILURES_BEFORE_WAIT or row.last_failure_at is None:
        return 0
    delay = min(FIRST_WAIT * 2 ** (row.failures - FAILURES_BEFORE_WAIT), MAX_WAIT)
    return max(0, int((row.last_failure_at + delay - now).total_seconds() + 0.999))


# -- inside --------------------------------------------------------------------------------------


def _check_totp(
    session: Session, config: Mapping[str, Any], row: TwoFactor, code: str, now: datetime
) -> None:
    """Accept a code of the current 30-second step or either neighbour, once: the step is
    consumed by a guarded UPDATE, so a replayed code fails even when two requests race."""
    _refuse_if_throttled(row, now)
    code = normalize(code)
    totp = pyotp.TOTP(decrypt_secret(config, row.secret_encrypted))
    current = totp.timecode(now)
    step = next(
        (
            s
            for s in (current - 1, current, current + 1)
            if len(code) == 6 and hmac.compare_digest(totp.generate_otp(s), code)
        ),
        None,
    )
    if step is None:
        _fail(session, row, now, _l("That code is not right. Check your app and try again."))
    consumed = session.execute(
        update(TwoFactor)
        .where(TwoFactor.user_id == row.user_id, TwoFactor.last_step < step)
        .values(last_step=step, failures=0, last_failure_at=None)
        .execution_options(synchronize_session=False)
    )
    if consumed.rowcount != 1:
        session.refresh(row)
        _fail(session, row, now, _l("That code was used already. Wait for the next one."))
    session.refresh(row)


def _use_recovery_code(
    session: Session, row: TwoFactor, user: User, code: str, now: datetime
) -> None:
    _refuse_if_throttled(row, now)
    used = session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == hash_secret(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:
        _fail(session, row, now, _l("That recovery code is not right or was used already."))
    row.failures, row.last_failure_at = 0, None
    _audit(session, user, "two_factor_recovery_code_used", remaining=_remaining(session, user))


def _remaining(session: Session, user: User) -> int:
    session.flush()
    return remaining_recovery_codes(session, user)


def _confirm(
    session: Session, config: Mapping[str, Any], user: User, code_or_password: str, now: datetime
) -> TwoFactor:
    """The person's enabled two-factor row, once they typed a current code or their password."""
    row = state(session, user)
    if row is None or row.enabled_at is None:
        raise TwoFactorError(_l("Two-factor sign-in is not on for this account."))
    _refuse_if_throttled(row, now)
    typed = code_or_password or ""
    if normalize(typed).isdigit() and len(normalize(typed)) == 6:
        _check_totp(session, config, row, typed, now)
    elif not check_password_hash(user.password_hash, typed):
        _fail(session, row, now, _l("That is neither a current code nor your password."))
    return row


def _refuse_if_throttled(row: TwoFactor, now: datetime) -> None:
    wait = throttle_wait(row, now)
    if wait:
        raise TwoFactorError(
            lazy_ngettext(
                "Too many wrong codes. Try again in %(num)s second.",
                "Too many wrong codes. Try again in %(num)s seconds.",
                wait,
            ),
            retry_after=wait,
        )


def _fail(session: Session, row: TwoFactor, now: datetime, message: Any) -> None:
    """Count a wrong try (committed, so that a rollback by the caller keeps it) and refuse."""
    session.execute(
        update(TwoFactor)
        .where(TwoFactor.user_id == row.user_id)
        .values(failures=TwoFactor.failures + 1, last_failure_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    raise TwoFactorError(message)


def _new_recovery_codes(session: Session, user: User, now: datetime) -> list[str]:
    codes = [
        "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
        for _ in range(RECOVERY_CODES)
    ]
    session.add_all(
        RecoveryCode(user_id=user.id, code_hash=hash_secret(c), created_at=now) for c in codes
    )
    return ["-".join(c[i : i + 4] for i in range(0, RECOVERY_LENGTH, 4)) for c in codes]


def _audit(session: Session, user: User, action: str, **details: Any) -> None:
    # A person's own security settings belong to no one team: each of their teams' owners and
    # admins see them, as they see sign-ins.
    for membership in user.memberships:
        record(session, membership.team_id, action, user, **details)
