"""The lived-in team that tests/page_walk.py walks: ``lived_in_team(app) -> WalkTeam``.

An owner who can sign in (``team.email``, ``team.password``: tests/helpers.py's ``PASSWORD``)
and a team with a row of every kind a URL can name, each made through the product's own
functions where it has them: campaigns in every state but cancelled (a draft with recipients,
one scheduled, one sending, one paused by the worker, one finished with delivered, failed,
rejected and unknown messages and its spending), a contact list with contacts, a finished
import with an invalid row and a file waiting for its preview, a stop-list entry, a
template, sender names, balance readings, notifications, an open invitation, another member,
and a two-factor enrolment begun. Its names are Russian, so that English left on a page
comes from the page, not from the data.
"""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from tests.helpers import PASSWORD
from webapp.domain import (
    accounts,
    campaigns,
    contacts,
    csv_import,
    csv_preview,
    message_templates,
    teams,
    two_factor,
    usage,
)
from webapp.extensions import db
from webapp.iqsms.statuses import Status
from webapp.models import (
    BalanceSnapshot,
    Campaign,
    CampaignState,
    Contact,
    Membership,
    Message,
    MessageState,
    Notification,
    Role,
    SenderName,
    StopListEntry,
    Team,
    User,
    utcnow,
)


@dataclass(frozen=True)
class WalkTeam:
    """The lived-in team: its owner (who signs in with ``password``) and its rows' ids."""

    owner_id: int
    email: str
    team_id: int
    team_name: str
    member_id: int  # the membership of another member
    invitation_id: int  # an open invitation
    campaigns: dict[str, int]  # a campaign in each CampaignState but cancelled, by state
    list_id: int
    contact_id: int  # a contact in the list
    import_id: int  # a finished import into the list, with an invalid row
    pending_import_id: int  # an uploaded file waiting for its preview
    stop_entry_id: int
    template_id: int
    notification_id: int  # the owner's, of the finished campaign
    password: str = field(default=PASSWORD, repr=False)

    @property
    def draft_id(self) -> int:
        return self.campaigns[CampaignState.DRAFT]

    @property
    def campaign_ids(self) -> tuple[int, ...]:
        return tuple(self.campaigns.values())


TEXT = "Здравствуйте, {name}! Скидка 20% в магазине «Ромашка» до воскресенья."
CONTACTS = [
    ("79161234501", {"name": "Анна", "city": "Москва"}),
    ("79161234502", {"name": "Борис", "city": "Казань"}),
    ("79161234503", {"name": "Вера", "city": "Пермь"}),
]
CSV = "телефон;имя\n+79161234504;Глеб\nне номер;Дарья\n+79161234505;Егор\n".encode()


def lived_in_team(app: Flask, email: str = "olga@example.com") -> WalkTeam:
    """The owner ``email`` (password ``PASSWORD``) and their lived-in team (module doc)."""
    upload_root = Path(app.instance_path)
    with app.app_context():
        session = db.session
        owner = accounts.create_user(session, email, PASSWORD)
        team = teams.create_team(session, app.config, "Ромашка", owner)
        member = User(email="ivan@example.com", password_hash="!never-signs-in")
        membership = Membership(team=team, user=member, role=Role.ADMIN.value)
        session.add_all([member, membership])
        invitation, _ = teams.invite(
            session, team, Role.SENDER, owner, "для отдела продаж", ttl_hours=72
        )
        session.add_all(
            SenderName(team_id=team.id, name=name, status=status)
            for name, status in (("MyBrand", "default"), ("Romashka", "pending"))
        )
        template = message_templates.create(
            session, team, owner, message_templates.Values("Скидка выходного дня", TEXT)
        )
        session.commit()
        rows = _contact_rows(session, team, owner, upload_root)
        states = _campaigns(session, team, owner, rows["list_id"])
        _balance_history(session, team.id)
        two_factor.start_enrolment(session, app.config, owner)
        notification_id = session.scalar(
            sa.select(sa.func.min(Notification.id)).where(Notification.user_id == owner.id)
        )
        return WalkTeam(
            owner_id=owner.id,
            email=owner.email,
            team_id=team.id,
            team_name=team.name,
            member_id=membership.id,
            invitation_id=invitation.id,
            campaigns=states,
            template_id=template.id,
            notification_id=notification_id,
            **rows,
        )


def _contact_rows(session, team: Team, owner: User, upload_root: Path) -> dict[str, int]:
    """A list with contacts, a finished import with an invalid row, a pending upload and a
    stop-listed phone."""
    contact_list = contacts.create_list(session, team, "Постоянные клиенты", owner)
    contacts.add_phones(session, contact_list, CONTACTS)
    contacts.merge_field_names(contact_list, ["name", "city"])
    contacts.add_to_stop_list(session, team, "+79161234599", "просил не писать", owner)
    session.commit()
    done = csv_preview.receive_upload(
        session, contact_list, owner, io.BytesIO(CSV), "клиенты.csv", upload_root
    )
    sniffed = csv_preview.reread(done, upload_root, None, None)[0]
    csv_preview.start_import(session, done, sniffed, 0, owner)
    session.commit()
    # Read as the worker would (a live worker may have taken it first: then it reads it).
    if csv_import.claim_import(session, done.id, utcnow()):
        csv_import.run_import(session, done.id, upload_root, utcnow)
    pending = csv_preview.receive_upload(
        session, contact_list, owner, io.BytesIO(CSV), "новые.csv", upload_root
    )
    session.commit()
    contact = session.scalars(
        sa.select(Contact).where(Contact.list_id == contact_list.id).order_by(Contact.id)
    ).first()
    entry = session.scalars(sa.select(StopListEntry).where(StopListEntry.team_id == team.id)).one()
    return {
        "list_id": contact_list.id,
        "contact_id": contact.id,
        "import_id": done.id,
        "pending_import_id": pending.id,
        "stop_entry_id": entry.id,
    }


S, M = CampaignState, MessageState
GATEWAY_STATUS = {
    M.ACCEPTED: Status.ACCEPTED,
    M.ENROUTE: Status.SMSC_SUBMIT,
    M.DELIVERED: Status.DELIVERED,
    M.FAILED: Status.DELIVERY_ERROR,
    M.REJECTED: Status.INVALID_PHONE,
    M.UNKNOWN: "",
    M.QUEUED: "",
}


def _campaigns(session, team: Team, owner: User, list_id: int) -> dict[str, int]:
    """A campaign in each state; the paused and finished ones through the worker's own
    functions (their audit events and the owners' notifications with them)."""
    now = utcnow()
    draft = campaigns.new_draft(session, team, owner)
    draft.text, draft.sender, draft.list_ids = TEXT, "MyBrand", [list_id]
    draft.pasted_numbers = "+79161234510\n8 916 123-45-11"
    finished = _sent(session, team, owner, "Весенняя распродажа", S.SENDING, now, DONE)
    campaigns.finish_done(session, now)
    paused = _sent(session, team, owner, "Напоминание о записи", S.SENDING, now, MOVING)
    campaigns.pause_by_worker(session, paused.id, "На счёте не хватает денег.")
    scheduled = _sent(
        session, team, owner, "Новогодние поздравления", S.SCHEDULED, now, {M.QUEUED: 3}
    )
    scheduled.send_at = now + timedelta(days=30)
    sending = _sent(session, team, owner, "Акция недели", S.SENDING, now, MOVING)
    session.commit()
    return {
        S.DRAFT: draft.id,
        S.SCHEDULED: scheduled.id,
        S.SENDING: sending.id,
        S.PAUSED: paused.id,
        S.FINISHED: finished.id,
    }


FINAL = (M.DELIVERED, M.FAILED, M.REJECTED, M.UNKNOWN)
DONE = {M.DELIVERED: 5, M.FAILED: 1, M.REJECTED: 1, M.UNKNOWN: 1}
MOVING = {M.DELIVERED: 2, M.ENROUTE: 2, M.ACCEPTED: 1, M.QUEUED: 3}
_phones = itertools.count(1000)


def _sent(session, team, owner, name, state, now, counts: dict[MessageState, int]) -> Campaign:
    """A committed campaign with messages in ``counts``' states, its counters and spending."""
    price = Decimal("2.50")
    sent = {s: n for s, n in counts.items() if s not in (M.QUEUED, M.UNKNOWN)}
    campaign = Campaign(
        team_id=team.id,
        created_by_id=owner.id,
        name=name,
        state=state,
        text=TEXT,
        sender="MyBrand",
        price_per_part=price,
        recipients=sum(counts.values()),
        scheduled_at=now - timedelta(hours=2),
        started_at=now - timedelta(hours=2),
        parts=sum(sent.values()),
        cost=price * sum(sent.values()),
        **{s.value: n for s, n in counts.items()},
    )
    session.add(campaign)
    session.flush()
    rows = []
    for message_state, count in counts.items():
        for _ in range(count):
            taken = message_state in sent
            rows.append(
                {
                    "team_id": team.id,
                    "campaign_id": campaign.id,
                    "phone": f"7916123{next(_phones):04d}",
                    "text": TEXT.replace("{name}", "Анна"),
                    "state": message_state,
                    "gateway_status": str(GATEWAY_STATUS[message_state]),
                    "smsc_id": f"{campaign.id}-{len(rows)}" if taken else None,
                    "parts": 1 if taken else 0,
                    "cost": price if taken else None,
                    "sent_at": now - timedelta(hours=1) if taken else None,
                    "final_at": now - timedelta(minutes=50) if message_state in FINAL else None,
                }
            )
    session.execute(sa.insert(Message), rows)
    if sent:
        accepted = sum(n for s, n in sent.items() if s != M.REJECTED)
        usage.record_sent(
            session,
            team.id,
            campaign.id,
            now - timedelta(hours=1),
            usage.Sent(
                accepted=accepted,
                rejected=sent.get(M.REJECTED, 0),
                parts=accepted,
                cost=price * accepted,
            ),
        )
    return campaign


def _balance_history(session, team_id: int) -> None:
    """A reading a day for two weeks, the balance going down as campaigns are sent."""
    now = utcnow()
    session.add_all(
        BalanceSnapshot(
            team_id=team_id,
            taken_at=now - timedelta(days=day),
            type="RUB",
            balance=Decimal(1000 + 37 * day) + Decimal("0.50"),
        )
        for day in range(14)
    )
    session.commit()
