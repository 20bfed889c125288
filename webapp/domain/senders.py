"""The team's sender names, as the gateway's senders.json reports them, kept in sender_names;
and the one rule of which can send (:func:`can_send`, :func:`sendable` in SQL)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session

from webapp import iqsms
from webapp.domain import gateway_calls, gateways
from webapp.domain.audit import record
from webapp.iqsms import SenderStatus
from webapp.iqsms.statuses import SENDABLE_SENDER_STATUSES
from webapp.models import SenderName, Team, User, utcnow

# Only approved names and the account's default can send; new and pending ones wait for the
# operators' approval; blocked ones were refused.
SENDABLE = tuple(s.value for s in SENDABLE_SENDER_STATUSES)
AWAITING = (SenderStatus.NEW.value, SenderStatus.PENDING.value)
NAME_LENGTH = SenderName.name.type.length

log = logging.getLogger(__name__)


def can_send(sender: SenderName) -> bool:
    """Whether a campaign may be sent from this name."""
    return sender.status in SENDABLE


def sendable() -> ColumnElement[bool]:
    """:func:`can_send` in SQL, for queries of sender_names."""
    return SenderName.status.in_(SENDABLE)


def awaiting() -> ColumnElement[bool]:
    """In SQL: the name waits for the operators' approval."""
    return SenderName.status.in_(AWAITING)


def standing(sender: SenderName) -> str:
    """Whether the name can send, in one word: "yes", "awaiting" (approval), "refused", "no"."""
    if can_send(sender):
        return "yes"
    if sender.status in AWAITING:
        return "awaiting"
    return "refused" if sender.status == SenderStatus.BLOCKED else "no"


@dataclass(frozen=True)
class SyncResult:
    """What a sync changed: names added, names whose status or note changed, names removed,
    and names skipped because no sender name can be that long (the gateway's mistake)."""

    added: int
    changed: int
    removed: int
    total: int
    skipped: int = 0


def sync(session: Session, team: Team, client: iqsms.Client) -> SyncResult:
    """Ask the gateway for the team's sender names and store them (:func:`store`).

    Raises ``iqsms.IqsmsError`` when the gateway cannot be asked; nothing is changed then. The
    caller commits.
    """
    return store(session, team, client.senders())


def store(session: Session, team: Team, senders: list[iqsms.Sender]) -> SyncResult:
    """Store the names the gateway reported: new names are added, known ones take the
    gateway's status and note, names it no longer lists are removed. A name longer than the
    column is skipped and logged (stored cut short, it would never match again and would
    clash with its neighbours); the rest of the sync lands. The caller commits."""
    reported: dict[str, iqsms.Sender] = {}
    skipped = 0
    for sender in senders:
        if len(sender.name) > NAME_LENGTH:
            log.warning(
                "team %s: skipping sender name over %d characters: %.60r…",
                team.id,
                NAME_LENGTH,
                sender.name,
            )
            skipped += 1
        elif sender.name:
            reported[sender.name] = sender
    now = utcnow()
    stored = {
        row.name: row
        for row in session.scalars(select(SenderName).where(SenderName.team_id == team.id))
    }
    added = changed = 0
    for name, sender in reported.items():
        status, info = sender.status[:16], sender.info[:500]
        row = stored.get(name)
        if row is None:
            session.add(
                SenderName(team_id=team.id, name=name, status=status, info=info, synced_at=now)
            )
            added += 1
            continue
        if (row.status, row.info) != (status, info):
            changed += 1
        row.status, row.info, row.synced_at = status, info, now
    gone = [row.id for name, row in stored.items() if name not in reported]
    if gone:
        session.execute(delete(SenderName).where(SenderName.id.in_(gone)))
    session.flush()
    return SyncResult(added, changed, len(gone), len(reported), skipped)


def names_of(session: Session, team_id: int) -> list[SenderName]:
    """The team's sender names: those that can send first, then by name."""
    rows = session.scalars(
        select(SenderName).where(SenderName.team_id == team_id).order_by(SenderName.name)
    ).all()
    return sorted(rows, key=lambda row: not can_send(row))


def usable_names(session: Session, team_id: int) -> list[str]:
    """Names a campaign of the team may be sent from, by name."""
    return list(
        session.scalars(
            select(SenderName.name)
            .where(SenderName.team_id == team_id, sendable())
            .order_by(SenderName.name)
        )
    )


def default_name(session: Session, team_id: int) -> str | None:
    """The sender name a new campaign starts with: the account's default one, else the only
    one that can send; None when the person has to choose (several names and no default, or
    none at all)."""
    usable = [row for row in names_of(session, team_id) if can_send(row)]
    default = next((row.name for row in usable if row.status == SenderStatus.DEFAULT), None)
    if default is not None:
        return default
    return usable[0].name if len(usable) == 1 else None


def ever_synced(session: Session, team_id: int) -> bool:
    return (
        session.scalar(select(SenderName.id).where(SenderName.team_id == team_id).limit(1))
        is not None
    )


def sync_now(
    session: Session, config: Mapping[str, Any], team: Team, timeout: float
) -> tuple[SyncResult | None, str]:
    """Sync the team's names while a page waits (``timeout`` seconds at most in all): what
    changed, or None and the failure in plain words (nothing is changed then). The caller
    commits."""
    client = gateways.client_for(config, team, timeout=timeout, deadline=timeout)
    try:
        with client:
            return sync(session, team, client), ""
    except iqsms.IqsmsError as exc:
        session.rollback()
        return None, gateways.explain(exc, client.base_url)


def refresh(
    session: Session, config: Mapping[str, Any], team: Team, by: User | None
) -> tuple[SyncResult | None, str]:
    """The names asked for by a person, in the team's turn for gateway calls (no database
    connection held while the gateway answers), recorded in the audit log: what changed, or
    None and the reason in plain words. The caller commits."""

    def ask() -> list[iqsms.Sender] | str:
        client = gateways.client_for(config, team, interactive=True)
        try:
            with client:
                return client.senders()
        except iqsms.IqsmsError as exc:
            return gateways.explain(exc, client.base_url)

    reported = gateway_calls.in_turn(session, config, team.id, ask)
    if isinstance(reported, gateway_calls.Refused):
        return None, reported.message
    if isinstance(reported, str):
        return None, reported
    result = store(session, team, reported)
    record(
        session,
        team.id,
        "senders_refreshed",
        by,
        added=result.added,
        changed=result.changed,
        removed=result.removed,
        skipped=result.skipped,
    )
    return result, ""
