"""Campaigns: checking a draft as it is composed, committing it (its messages created in bulk),
and the lifecycle after that: edit, cancel, pause, resume.

Every transition is one transaction guarded by a conditional UPDATE (``WHERE state IN (...)``),
so a double click or a racing worker cannot apply it twice. Errors a person can act on are
raised as :class:`CampaignError` with a message in plain words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, func, insert, literal, select, text, update
from sqlalchemy.orm import Session

from webapp.domain import counters, recipients, senders
from webapp.domain.audit import record
from webapp.iqsms.parts import TextInfo, analyse, non_gsm7_chars
from webapp.models import (
    COUNTED_STATES,
    Campaign,
    CampaignState,
    Contact,
    Message,
    MessageState,
    SenderName,
    Team,
    User,
    utcnow,
)

KOPECK = Decimal("0.01")
PASTED_CHUNK = 10_000
ANALYZE_AFTER = 10_000  # messages created at once before PostgreSQL statistics are refreshed

S = CampaignState


class CampaignError(ValueError):
    """A change the campaign's state or contents do not allow; the message says why."""


def team_zone(team: Team) -> ZoneInfo:
    try:
        return ZoneInfo(team.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_to_utc(day: date, at: time, team: Team) -> datetime:
    """A date and time as the team reads them (its time zone), as an aware UTC datetime."""
    return datetime.combine(day, at.replace(tzinfo=None), tzinfo=team_zone(team)).astimezone(
        ZoneInfo("UTC")
    )


def in_team_zone(when: datetime | None, team: Team) -> datetime | None:
    return when.astimezone(team_zone(team)) if when is not None else None


# -- the composer's check ------------------------------------------------------------------------


@dataclass
class Sample:
    """The text as the first recipient will get it."""

    phone: str
    text: str
    info: TextInfo


@dataclass
class Check:
    """Everything the composer shows about a draft, and what stops it from being sent."""

    recipients: recipients.Recipients
    info: TextInfo
    marked: list[tuple[str, bool]]  # the text in runs; True where a run forces UCS-2
    placeholders: list[str]
    missing: dict[str, int]
    sample: Sample | None
    parts: tuple[int, int]
    price_per_part: Decimal
    estimate: Decimal
    sender_names: list[SenderName]
    send_at: datetime | None  # UTC; None: now
    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return not any(self.errors.values())

    @property
    def usable_senders(self) -> list[SenderName]:
        return [s for s in self.sender_names if s.usable]

    @property
    def unusable_senders(self) -> list[SenderName]:
        return [s for s in self.sender_names if not s.usable]

    def add(self, section: str, message: str) -> None:
        self.errors.setdefault(section, []).append(message)

    def first_error(self) -> str:
        return next((m for ms in self.errors.values() for m in ms), "")


def mark_ucs2(text: str) -> list[tuple[str, bool]]:
    """Split a text into runs, flagging the characters that force UCS-2 (for ``<mark>``).

    Placeholders are never sent as typed, so their letters are not flagged: ``{Имя}`` does
    not make a Latin text UCS-2 (the values filled in may, which the sample shows).
    """
    forcing = set(non_gsm7_chars(recipients.PLACEHOLDER.sub("", text)))
    spans = [m.span() for m in recipients.PLACEHOLDER.finditer(text)]
    runs: list[tuple[str, bool]] = []
    for i, ch in enumerate(text):
        flagged = ch in forcing and not any(start <= i < end for start, end in spans)
        if runs and runs[-1][1] == flagged:
            runs[-1] = (runs[-1][0] + ch, flagged)
        else:
            runs.append((ch, flagged))
    return runs


def money(value: Decimal) -> Decimal:
    return value.quantize(KOPECK, rounding=ROUND_HALF_UP)


def check(
    session: Session,
    team: Team,
    campaign: Campaign,
    now: datetime,
    extra_errors: dict[str, list[str]] | None = None,
) -> Check:
    """Check a draft: recipients, text, placeholders, sample, estimate, sender, schedule."""
    if campaign.resend_of is not None:
        return _check_resend(session, team, campaign, now, extra_errors)
    list_ids = recipients.team_list_ids(session, team.id, campaign.list_ids or [])
    found = recipients.resolve(
        session, team.id, list_ids, campaign.pasted_numbers or "", team.phone_region
    )
    text = campaign.text or ""
    names = recipients.placeholders(text)
    known = [n for n in names if n in found.field_names]
    missing = recipients.missing_field_counts(session, team.id, found, known) if found.count else {}
    sample = None
    first = recipients.first_recipient(session, team.id, found)
    if first is not None and text:
        rendered = recipients.render(text, first[1])
        sample = Sample(first[0], rendered, analyse(rendered))
    parts = recipients.parts_range(session, team.id, text, found) if text else (0, 0)
    price = Decimal(team.price_per_part or 0)
    result = Check(
        recipients=found,
        # The text as it will travel: the sample's when there is one, else without placeholders.
        info=sample.info if sample else analyse(recipients.PLACEHOLDER.sub("", text)),
        marked=mark_ucs2(text),
        placeholders=names,
        missing=missing,
        sample=sample,
        parts=parts,
        price_per_part=price,
        estimate=money(found.count * parts[1] * price),
        sender_names=senders.names_of(session, team.id),
        send_at=campaign.send_at,
    )
    _add_errors(result, extra_errors)

    if found.count == 0:
        result.add("recipients", "There are no recipients yet: choose a list or paste numbers.")
    _check_common(result, campaign, team, now)
    return result


def _check_resend(
    session: Session,
    team: Team,
    campaign: Campaign,
    now: datetime,
    extra_errors: dict[str, list[str]] | None,
) -> Check:
    """Check a resend: its recipients are the source campaign's failed and unknown messages
    (this team's only), which keep the texts they were rendered with; nothing is rendered."""
    source_id = campaign.resend_of
    assert source_id is not None
    found = recipients.resolve(session, team.id, [], "", team.phone_region, resend_of=source_id)
    first = recipients.first_resent(session, team.id, source_id)
    sample = Sample(first[0], first[1], analyse(first[1])) if first is not None else None
    low, high = recipients.resend_parts_range(session, team.id, source_id)
    if sample is not None and high == 0:  # never counted by the gateway: count them here
        low = high = sample.info.parts
    text = campaign.text or ""
    price = Decimal(team.price_per_part or 0)
    result = Check(
        recipients=found,
        info=sample.info if sample else analyse(recipients.PLACEHOLDER.sub("", text)),
        marked=mark_ucs2(sample.text if sample else text),
        placeholders=[],
        missing={},
        sample=sample,
        parts=(low, high),
        price_per_part=price,
        estimate=money(found.count * high * price),
        sender_names=senders.names_of(session, team.id),
        send_at=campaign.send_at,
    )
    _add_errors(result, extra_errors)
    if found.count == 0:
        result.add("recipients", "There are no failed or unknown messages left to resend.")
    _check_common(result, campaign, team, now)
    return result


def _add_errors(result: Check, errors: dict[str, list[str]] | None) -> None:
    """Errors found outside the check (the form's own), by section."""
    for section, messages in (errors or {}).items():
        for message in messages:
            result.add(section, message)


def _check_common(result: Check, campaign: Campaign, team: Team, now: datetime) -> None:
    """The checks every draft gets: text, placeholders, sender name, WAP-push link, time."""
    text = campaign.text or ""
    names = result.placeholders
    found = result.recipients
    missing = result.missing
    if not text.strip():
        result.add("text", "Write the message.")
    for name in names:
        if name not in found.field_names:
            if found.field_names:
                available = ", ".join("{" + f + "}" for f in found.field_names)
                result.add(
                    "placeholders",
                    f"{{{name}}} is not a field of the chosen lists. Their fields: {available}.",
                )
            else:
                result.add(
                    "placeholders",
                    f"{{{name}}} cannot be filled: placeholders come from the fields of contact "
                    "lists, and no chosen list has fields (pasted numbers have none).",
                )
        elif missing.get(name):
            result.add(
                "placeholders",
                f"{{{name}}} is empty for {missing[name]:,} of {found.count:,} recipients"
                + (" (pasted numbers have no fields)" if found.pasted_only else "")
                + ". Remove it, or choose lists where every contact has it.",
            )
    usable = {s.name: s for s in result.usable_senders}
    if not campaign.sender:
        result.add("sender", "Choose a sender name.")
    elif campaign.sender not in usable:
        row = next((s for s in result.sender_names if s.name == campaign.sender), None)
        why = f"it is {row.status}" + (f": {row.info}" if row.info else "") if row else ""
        result.add(
            "sender",
            f"The sender name {campaign.sender} cannot send"
            + (f" ({why})" if why else ": the gateway does not list it")
            + ". Choose an active one.",
        )
    if campaign.wapurl and (" " in campaign.wapurl.strip() or len(campaign.wapurl) > 300):
        result.add("wapurl", "A WAP-push link is one address without spaces, like wap.example.ru.")
    if campaign.send_at is not None and campaign.send_at <= now:
        local_now = in_team_zone(now, team)
        assert local_now is not None
        result.add(
            "when",
            f"That time has already passed (it is now {local_now:%Y-%m-%d %H:%M} in "
            f"{team.timezone}). Choose a later time, or send now.",
        )


def save_draft(session: Session, campaign: Campaign, values: dict[str, Any]) -> bool:
    """Store what the composer holds, only while the campaign is still a draft (a conditional
    UPDATE: a draft sent meanwhile from another tab is not changed). The caller commits."""
    allowed = {
        "name",
        "text",
        "sender",
        "flash",
        "wapurl",
        "list_ids",
        "pasted_numbers",
        "send_at",
    }
    values = {k: v for k, v in values.items() if k in allowed}
    done = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.state == S.DRAFT)
        .values(**values, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.refresh(campaign)
    return done.rowcount == 1


# -- commit: the messages created in bulk --------------------------------------------------------


def create_messages(
    session: Session,
    campaign: Campaign,
    list_ids: list[int],
    pasted_only: list[str],
) -> int:
    """Insert one queued message per recipient; returns how many.

    The lists' recipients go in one INSERT ... SELECT: distinct phones, minus the stop list,
    with the text rendered in SQL when it has placeholders (fields of each phone's lowest
    contact id). Pasted numbers not in the lists follow in chunks.
    """
    if campaign.resend_of is not None:
        return _create_resent_messages(session, campaign, campaign.resend_of)
    team_id, template = campaign.team_id, campaign.text
    names = recipients.placeholders(template)
    # One text for everyone: its parts are known now; rendered ones are counted at dispatch.
    parts = 0 if names else analyse(template).parts
    columns = ["team_id", "campaign_id", "phone", "text", "state", "gateway_status", "parts"]
    created = 0
    if list_ids:
        constants = (
            literal(team_id),
            literal(campaign.id),
        )
        tail = (literal(MessageState.QUEUED.value), literal(""), literal(parts))
        if names:
            source = select(
                *constants, Contact.phone, recipients.rendered_text(template), *tail
            ).where(
                Contact.id.in_(recipients.first_contacts(team_id, list_ids)),
                recipients.not_stopped(team_id, Contact.phone),
            )
        else:
            source = (
                select(*constants, Contact.phone, literal(template), *tail)
                .where(
                    recipients.in_lists(team_id, list_ids),
                    recipients.not_stopped(team_id, Contact.phone),
                )
                .group_by(Contact.phone)
            )
        done = session.execute(insert(Message.__table__).from_select(columns, source))
        # psycopg reports -1 for INSERT ... SELECT through SQLAlchemy: count what was made
        # (an index-only count over the campaign's rows).
        created += done.rowcount if done.rowcount >= 0 else _count(session, campaign.id)
    text = recipients.render(template, {})
    for start in range(0, len(pasted_only), PASTED_CHUNK):
        chunk = pasted_only[start : start + PASTED_CHUNK]
        session.execute(
            insert(Message),
            [
                {
                    "team_id": team_id,
                    "campaign_id": campaign.id,
                    "phone": phone,
                    "text": text,
                    "state": MessageState.QUEUED.value,
                    "gateway_status": "",
                    "parts": parts,
                }
                for phone in chunk
            ],
        )
        created += len(chunk)
    return created


def _create_resent_messages(session: Session, campaign: Campaign, source_id: int) -> int:
    """A resend's messages in one INSERT ... SELECT from the source campaign's failed and
    unknown messages of this team: each phone once (its lowest message id), minus the stop
    list, with the text it carried (already rendered) and its parts, queued again."""
    resent = recipients.resent(campaign.team_id, source_id)
    rows = select(
        literal(campaign.team_id),
        literal(campaign.id),
        resent.c.phone,
        resent.c.text,
        literal(MessageState.QUEUED.value),
        literal(""),
        resent.c.parts,
    ).order_by(resent.c.id)  # sent in the source's order
    columns = ["team_id", "campaign_id", "phone", "text", "state", "gateway_status", "parts"]
    done = session.execute(insert(Message.__table__).from_select(columns, rows))
    return done.rowcount if done.rowcount >= 0 else _count(session, campaign.id)


def _count(session: Session, campaign_id: int) -> int:
    return session.scalar(
        select(func.count()).select_from(Message).where(Message.campaign_id == campaign_id)
    )


def commit(
    session: Session,
    campaign: Campaign,
    by: User | None = None,
    *,
    now: datetime | None = None,
    expected: int | None = None,
) -> int:
    """Send a checked draft: create its messages and schedule it (for ``send_at``, or now).

    ``expected`` is the recipient count the person confirmed: if the lists changed since, the
    campaign is not sent and the error says so. Returns the number of messages created.
    """
    now = now or utcnow()
    team = session.get(Team, campaign.team_id)
    assert team is not None
    result = check(session, team, campaign, now)
    if campaign.state != S.DRAFT:
        raise CampaignError(_no_longer(campaign, "sent"))
    if not result.ready:
        raise CampaignError(result.first_error())
    if expected is not None and result.recipients.count != expected:
        raise CampaignError(
            f"The recipients changed since you checked: there are now "
            f"{result.recipients.count:,}, not {expected:,}. Check again before sending."
        )
    send_at = campaign.send_at or now
    claimed = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.state == S.DRAFT)
        .values(
            state=S.SCHEDULED,
            send_at=send_at,
            scheduled_at=now,
            started_at=None,
            finished_at=None,
            pause_reason="",
            price_per_part=team.price_per_part,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        session.rollback()
        raise CampaignError("This campaign was sent already (perhaps from another tab).")
    created = create_messages(
        session, campaign, result.recipients.list_ids, result.recipients.pasted_only
    )
    if created == 0:
        session.rollback()
        raise CampaignError("There are no recipients left to send to.")
    counters.shift(session, campaign.id, {MessageState.QUEUED: created})
    refresh_statistics(session, created)
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id)
        .values(recipients=created)
        .execution_options(synchronize_session=False)
    )
    record(
        session,
        campaign.team_id,
        "campaign_sent",
        by,
        campaign=campaign.id,
        name=campaign.name,
        recipients=created,
        sender=campaign.sender,
        when=send_at.isoformat(),
        now=campaign.send_at is None,
    )
    session.commit()
    session.refresh(campaign)
    return created


# -- after commit --------------------------------------------------------------------------------


def _guard(
    session: Session, campaign: Campaign, from_states: tuple[str, ...], **values: Any
) -> bool:
    done = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.state.in_(from_states))
        .values(**values, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return done.rowcount == 1


def _no_longer(campaign: Campaign, verb: str) -> str:
    state = campaign.state
    return f"This campaign is {state} now, so it cannot be {verb}."


def edit(session: Session, campaign: Campaign, by: User | None = None) -> None:
    """Take a scheduled campaign that has not started back to a draft: its messages are
    deleted and its counters zeroed; a "send now" choice stays "now"."""
    as_soon_as_possible = campaign.send_at is not None and campaign.send_at == campaign.scheduled_at
    zeroed = {state.value: 0 for state in COUNTED_STATES}
    if not _guard(
        session,
        campaign,
        (S.SCHEDULED,),
        state=S.DRAFT,
        scheduled_at=None,
        send_at=None if as_soon_as_possible else campaign.send_at,
        recipients=0,
        parts=0,
        cost=0,
        **zeroed,
    ):
        session.rollback()
        session.refresh(campaign)
        raise CampaignError(
            _no_longer(campaign, "edited (only scheduled ones that have not started)")
        )
    session.execute(delete(Message).where(Message.campaign_id == campaign.id))
    record(
        session, campaign.team_id, "campaign_edited", by, campaign=campaign.id, name=campaign.name
    )
    session.commit()
    session.refresh(campaign)


def cancel(session: Session, campaign: Campaign, by: User | None = None) -> int:
    """Cancel a campaign: messages not yet sent never will be. Returns how many were
    cancelled; messages a worker already claimed stay as the worker leaves them."""
    now = utcnow()
    if not _guard(
        session,
        campaign,
        (S.DRAFT, S.SCHEDULED, S.SENDING, S.PAUSED),
        state=S.CANCELLED,
        finished_at=now,
    ):
        session.rollback()
        session.refresh(campaign)
        raise CampaignError(_no_longer(campaign, "cancelled"))
    done = session.execute(
        update(Message)
        .where(Message.campaign_id == campaign.id, Message.state == MessageState.QUEUED)
        .values(state=MessageState.CANCELLED, updated_at=now, final_at=now)
        .execution_options(synchronize_session=False)
    )
    counters.move(session, campaign.id, MessageState.QUEUED, MessageState.CANCELLED, done.rowcount)
    record(
        session,
        campaign.team_id,
        "campaign_cancelled",
        by,
        campaign=campaign.id,
        name=campaign.name,
        cancelled_messages=done.rowcount,
    )
    session.commit()
    session.refresh(campaign)
    return done.rowcount


def pause(session: Session, campaign: Campaign, by: User | None = None) -> None:
    """Stop a sending campaign for now; the worker claims nothing more of it."""
    reason = f"Paused by {by.email}" if by is not None else "Paused"
    if not _guard(session, campaign, (S.SENDING,), state=S.PAUSED, pause_reason=reason):
        session.rollback()
        session.refresh(campaign)
        raise CampaignError(_no_longer(campaign, "paused (only sending ones)"))
    record(
        session, campaign.team_id, "campaign_paused", by, campaign=campaign.id, name=campaign.name
    )
    session.commit()
    session.refresh(campaign)


def resume(session: Session, campaign: Campaign, by: User | None = None) -> None:
    """Let a paused campaign send again."""
    if not _guard(session, campaign, (S.PAUSED,), state=S.SENDING, pause_reason=""):
        session.rollback()
        session.refresh(campaign)
        raise CampaignError(_no_longer(campaign, "resumed (only paused ones)"))
    record(
        session, campaign.team_id, "campaign_resumed", by, campaign=campaign.id, name=campaign.name
    )
    session.commit()
    session.refresh(campaign)


def new_draft(session: Session, team: Team, by: User | None) -> Campaign:
    """An empty draft; the caller commits."""
    campaign = Campaign(
        team_id=team.id,
        created_by_id=by.id if by is not None else None,
        name="",
        state=S.DRAFT,
        list_ids=[],
        pasted_numbers="",
        price_per_part=team.price_per_part,
    )
    session.add(campaign)
    session.flush()
    campaign.name = f"Campaign {campaign.id}"
    return campaign


def resend_draft(
    session: Session, team: Team, source: Campaign, by: User | None, name: str
) -> tuple[Campaign, bool]:
    """The draft that resends ``source``'s failed and unknown messages, and whether it is new:
    the one not sent yet when there is one (a double click, or the back button and again),
    else a new one with the source's text, sender and options. The caller commits.

    Two requests at once make one draft. The source's row is written first (to itself), which
    holds it until commit: its row lock on PostgreSQL, the database's single write lock on
    SQLite (nothing was read in this transaction before it, so the wait is for a fresh start,
    not a stale snapshot). The second request looks for the draft only after the first has
    committed it. A check without that lock would let both see none and both add one.
    """
    session.execute(
        update(Campaign)
        .where(Campaign.id == source.id)
        .values(updated_at=Campaign.updated_at)  # no change; not utcnow() by onupdate either
        .execution_options(synchronize_session=False)
    )
    waiting = session.scalar(
        select(Campaign)
        .where(
            Campaign.team_id == source.team_id,
            Campaign.resend_of == source.id,
            Campaign.state == S.DRAFT,
        )
        .order_by(Campaign.id)
        .limit(1)
    )
    if waiting is not None:
        return waiting, False
    draft = new_draft(session, team, by)
    draft.name = name[:200]
    draft.text, draft.sender = source.text, source.sender
    draft.flash, draft.wapurl = source.flash, source.wapurl
    draft.list_ids, draft.pasted_numbers = [], ""
    draft.resend_of = source.id
    session.flush()
    return draft, True


def refresh_statistics(session: Session, created: int) -> None:
    """After a large bulk insert, let PostgreSQL's planner see the new rows at once: with stale
    statistics it reads a million-message campaign's pages by bitmap scan (400 ms) instead of
    by index (0.1 ms), until autovacuum gets round to it."""
    if created >= ANALYZE_AFTER and session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE messages"))
