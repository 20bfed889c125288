"""The composer's check: everything the composer shows about a draft (recipients, text,
placeholders, sample, estimate, sender, schedule) and what stops it from being sent; storing
what the composer holds while the campaign is a draft; and the reads the campaign pages need.

The check is the same one :func:`webapp.domain.campaigns.commit` runs before it sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from webapp.domain import contacts, recipient_fields, recipients, senders
from webapp.domain import messages as table
from webapp.domain.audit import record
from webapp.iqsms.parts import TextInfo, analyse, non_gsm7_chars
from webapp.models import Campaign, CampaignState, ContactList, SenderName, Team, User, utcnow
from webapp.timezones import in_team_zone, team_zone

KOPECK = Decimal("0.01")
# What a draft may hold; the form's own limits, applied again to what is stored.
DRAFT_LIMITS = {"name": 200, "pasted_numbers": 200_000, "text": 5_000, "wapurl": 300}
# What the composer states beside its fields: placeholders in a text, lines in a paste.
LIMITS = {
    "placeholders": recipient_fields.MAX_PLACEHOLDERS,
    "pasted_lines": contacts.MAX_PASTED_LINES,
}
DRAFT_FIELDS = ("name", "text", "sender", "flash", "wapurl", "list_ids", "pasted_numbers")

S = CampaignState


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

    @property
    def ready(self) -> bool:
        return not any(self.errors.values())

    @property
    def unusable_senders(self) -> list[SenderName]:
        return [s for s in self.sender_names if not senders.can_send(s)]

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


# -- the check -----------------------------------------------------------------------------------


def check(
    session: Session,
    team: Team,
    campaign: Campaign,
    now: datetime,
    extra_errors: dict[str, list[str]] | None = None,
    *,
    sender: str | None = None,
) -> Check:
    """Check a draft: recipients, text, placeholders, sample, estimate, sender, schedule.
    ``extra_errors`` are those found outside the check (the form's own), by section;
    ``sender``, the name a form preselects for a draft without one (not saved yet)."""
    if campaign.resend_of is not None:
        result = _resend_facts(session, team, campaign, campaign.resend_of)
        nobody = "There are no failed or unknown messages left to resend."
    else:
        result = _draft_facts(session, team, campaign)
        nobody = "There are no recipients yet: choose a list or paste numbers."
    for section, messages in (extra_errors or {}).items():
        for message in messages:
            result.add(section, message)
    if result.recipients.count == 0:
        result.add("recipients", nobody)
    if not (campaign.text or "").strip():
        result.add("text", "Write the message.")
    _check_placeholders(result)
    _check_sender(result, campaign.sender or sender)
    if campaign.wapurl and (" " in campaign.wapurl.strip() or len(campaign.wapurl) > 300):
        result.add("wapurl", "A WAP-push link is one address without spaces, like wap.example.ru.")
    _check_time(result, team, now)
    return result


def _draft_facts(session: Session, team: Team, campaign: Campaign) -> Check:
    """What the composer shows of a draft: its lists and pasted numbers, its text rendered for
    the first recipient, the fields its placeholders miss."""
    list_ids = recipients.team_list_ids(session, team.id, campaign.list_ids or [])
    pasted = campaign.pasted_numbers or ""
    too_long = contacts.pasted_lines_error(pasted)
    found = recipients.resolve(
        session, team.id, list_ids, "" if too_long else pasted, team.phone_region
    )
    text = campaign.text or ""
    names = recipients.placeholders(text)
    too_many = len(names) > recipient_fields.MAX_PLACEHOLDERS
    # Over the limit nothing is looked up: the text cannot be sent as it is.
    known = [] if too_many else [n for n in names if n in found.field_names]
    facts = recipient_fields.field_facts(session, team.id, found, known) if found.count else {}
    missing = {name: fact.missing for name, fact in facts.items()}
    sample = None
    first = recipients.first_recipient(session, team.id, found)
    if first is not None and text:
        rendered = recipients.render(text, first[1])
        sample = Sample(first[0], rendered, analyse(rendered))
    parts = recipient_fields.parts_range(text, facts, found) if text else (0, 0)
    result = _facts(session, team, campaign, found, sample, parts, mark_ucs2(text), names, missing)
    if too_long:
        result.add("pasted_lines", too_long)
    if too_many:
        result.add(
            "placeholder_limit",
            f"A message can use at most {recipient_fields.MAX_PLACEHOLDERS} different "
            f"placeholders; this one uses {len(names)}. Remove some of them.",
        )
        result.placeholders = []
    return result


def _resend_facts(session: Session, team: Team, campaign: Campaign, source_id: int) -> Check:
    """What the composer shows of a resend: its recipients are the source campaign's failed
    and unknown messages (this team's only), which keep the texts they were rendered with;
    nothing is rendered."""
    found = recipients.resolve(session, team.id, [], "", team.phone_region, resend_of=source_id)
    first = recipients.first_resent(session, team.id, source_id)
    sample = Sample(first[0], first[1], analyse(first[1])) if first is not None else None
    low, high = recipients.resend_parts_range(session, team.id, source_id)
    if sample is not None and high == 0:  # never counted by the gateway: count them here
        low = high = sample.info.parts
    marked = mark_ucs2(sample.text if sample else campaign.text or "")
    return _facts(session, team, campaign, found, sample, (low, high), marked, [], {})


def _facts(
    session: Session,
    team: Team,
    campaign: Campaign,
    found: recipients.Recipients,
    sample: Sample | None,
    parts: tuple[int, int],
    marked: list[tuple[str, bool]],
    placeholders: list[str],
    missing: dict[str, int],
) -> Check:
    price = Decimal(team.price_per_part or 0)
    bare = recipients.PLACEHOLDER.sub("", campaign.text or "")
    return Check(
        recipients=found,
        # The text as it will travel: the sample's when there is one, else without placeholders.
        info=sample.info if sample else analyse(bare),
        marked=marked,
        placeholders=placeholders,
        missing=missing,
        sample=sample,
        parts=parts,
        price_per_part=price,
        estimate=money(found.count * parts[1] * price),
        sender_names=senders.names_of(session, team.id),
        send_at=campaign.send_at,
    )


def _check_placeholders(result: Check) -> None:
    """Every placeholder must be a field of the chosen lists, filled in for every recipient."""
    found, missing = result.recipients, result.missing
    for name in result.placeholders:
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


def _check_sender(result: Check, sender: str | None) -> None:
    """The sender name must be one of the team's that can send (see senders.can_send)."""
    if not sender:
        result.add("sender", "Choose a sender name.")
        return
    row = next((s for s in result.sender_names if s.name == sender), None)
    if row is not None and senders.can_send(row):
        return
    why = f"it is {row.status}" + (f": {row.info}" if row.info else "") if row else ""
    result.add(
        "sender",
        f"The sender name {sender} cannot send"
        + (f" ({why})" if why else ": the gateway does not list it")
        + ". Choose an active one.",
    )


def _check_time(result: Check, team: Team, now: datetime) -> None:
    if result.send_at is not None and result.send_at <= now:
        result.add(
            "when",
            f"That time has already passed (it is now {in_team_zone(now, team):%Y-%m-%d %H:%M} "
            f"in {team_zone(team).key}). Choose a later time, or send now.",
        )


# -- the draft -----------------------------------------------------------------------------------


def save_draft(session: Session, campaign: Campaign, values: dict[str, Any]) -> bool:
    """Store what the composer holds, only while the campaign is still a draft (a conditional
    UPDATE: a draft sent meanwhile from another tab is not changed). Texts longer than a draft
    holds are cut; an empty name keeps the one it had. The caller commits."""
    values = {k: v for k, v in values.items() if k in (*DRAFT_FIELDS, "send_at")}
    if "name" in values:
        values["name"] = (values["name"] or "").strip()[: DRAFT_LIMITS["name"]] or campaign.name
    for name, limit in DRAFT_LIMITS.items():
        if isinstance(values.get(name), str):
            values[name] = values[name][:limit]
    done = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.state == S.DRAFT)
        .values(**values, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.refresh(campaign)
    return done.rowcount == 1


def version(campaign: Campaign) -> str:
    """What the confirmation page carries, to refuse a draft changed since it was shown."""
    return campaign.updated_at.isoformat() if campaign.updated_at else ""


def draft_resend(
    session: Session, team: Team, source: Campaign, by: User | None, name: str
) -> tuple[Campaign, bool] | None:
    """The draft that resends ``source`` (see campaigns.resend_draft) and whether it is new,
    recorded in the audit log when it is; None when ``source`` has nothing to resend (a draft,
    or no failed or unknown messages). The caller commits."""
    from webapp.domain import campaigns  # it imports this module's check

    if source.state == S.DRAFT or not table.resendable(source):
        return None
    draft, created = campaigns.resend_draft(session, team, source, by, name)
    if created:
        record(session, team.id, "campaign_resend_drafted", by, campaign=source.id, draft=draft.id)
    return draft, created


# -- reads for the pages -------------------------------------------------------------------------


def recent(session: Session, team_id: int, limit: int) -> Sequence[Campaign]:
    """The team's campaigns, newest first."""
    return session.scalars(
        select(Campaign)
        .where(Campaign.team_id == team_id)
        .order_by(Campaign.id.desc())
        .limit(limit)
    ).all()


def team_lists(session: Session, team_id: int) -> Sequence[ContactList]:
    """The contact lists a draft may choose, by name."""
    return session.scalars(
        select(ContactList).where(ContactList.team_id == team_id).order_by(ContactList.name)
    ).all()


def resend_source(session: Session, campaign: Campaign) -> Campaign | None:
    """The campaign a resend sends again, when it is still there (of the same team only)."""
    if campaign.resend_of is None:
        return None
    return session.scalar(
        select(Campaign).where(
            Campaign.id == campaign.resend_of, Campaign.team_id == campaign.team_id
        )
    )
