"""The team's sender names, as the gateway's senders.json reports them, kept in sender_names."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from webapp import iqsms
from webapp.models import SenderName, Team, utcnow


@dataclass(frozen=True)
class SyncResult:
    """What a sync changed: names added, names whose status or note changed, names removed."""

    added: int
    changed: int
    removed: int
    total: int


def sync(session: Session, team: Team, client: iqsms.Client) -> SyncResult:
    """Ask the gateway for the team's sender names and store them: new names are added, known
    ones take the gateway's status and note, names it no longer lists are removed.

    Raises ``iqsms.IqsmsError`` when the gateway cannot be asked; nothing is changed then. The
    caller commits.
    """
    reported = {s.name: s for s in client.senders() if s.name}
    now = utcnow()
    stored = {
        row.name: row
        for row in session.scalars(select(SenderName).where(SenderName.team_id == team.id))
    }
    added = changed = 0
    for name, sender in reported.items():
        row = stored.get(name)
        if row is None:
            session.add(
                SenderName(
                    team_id=team.id,
                    name=name[:32],
                    status=sender.status[:16],
                    info=sender.info[:500],
                    synced_at=now,
                )
            )
            added += 1
            continue
        if (row.status, row.info) != (sender.status, sender.info):
            changed += 1
        row.status, row.info, row.synced_at = sender.status[:16], sender.info[:500], now
    gone = [row.id for name, row in stored.items() if name not in reported]
    if gone:
        session.execute(delete(SenderName).where(SenderName.id.in_(gone)))
    session.flush()
    return SyncResult(added, changed, len(gone), len(reported))


def names_of(session: Session, team_id: int) -> list[SenderName]:
    """The team's sender names: usable ones first, then by name."""
    rows = session.scalars(
        select(SenderName).where(SenderName.team_id == team_id).order_by(SenderName.name)
    ).all()
    return sorted(rows, key=lambda row: not row.usable)


def usable_names(session: Session, team_id: int) -> list[str]:
    """Names a campaign of the team may be sent from (active and default ones)."""
    return [row.name for row in names_of(session, team_id) if row.usable]


def default_name(session: Session, team_id: int) -> str | None:
    """The sender name a new campaign starts with: the account's default one, else the only
    usable one; None when the person has to choose (several usable names and no default, or
    none at all)."""
    usable = [row for row in names_of(session, team_id) if row.usable]
    default = next((row.name for row in usable if row.status == iqsms.SenderStatus.DEFAULT), None)
    if default is not None:
        return default
    return usable[0].name if len(usable) == 1 else None


def ever_synced(session: Session, team_id: int) -> bool:
    return (
        session.scalar(select(SenderName.id).where(SenderName.team_id == team_id).limit(1))
        is not None
    )
