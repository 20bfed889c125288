"""The composer's check: everything the composer shows about a draft (recipients, text,
placeholders, sample, estimate, sender, schedule) and what stops it from being sent. Storing
what the composer holds is :mod:`webapp.domain.drafts`.

The check is the same one :func:`webapp.domain.campaigns.commit` runs before it sends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from webapp import gateway_texts
from webapp.domain import composer_texts as say
from webapp.domain import contacts, funds, placeholders, recipient_fields, recipients, senders
from webapp.formatting import team_time, zone_name_of
from webapp.iqsms.parts import GSM7_PART, MAX_PARTS, UCS2_PART, TextInfo, analyse
from webapp.models import Campaign, CampaignState, SenderName, Team

KOPECK = Decimal("0.01")
# What a campaign may hold to be sent. A draft keeps whatever was typed (the request's size is
# bounded, IQSMS_MAX_CONTENT_LENGTH), and the check says what is too long: nothing is cut.
NAME_MAX = 200
WAPURL_MAX = 300
PASTED_MAX = 200_000  # characters of pasted numbers read at once (besides the lines' limit)
# Texts longer than this are not parsed, rendered nor marked (the work of a check stays
# bounded); they are far past the longest message anyway (MAX_PARTS parts).
TEXT_CHECK_LIMIT = 20_000
# The most of each field the check reads; more is kept as typed and reported as too long.
DRAFT_LIMITS = {
    "name": NAME_MAX,
    "pasted_numbers": PASTED_MAX,
    "text": TEXT_CHECK_LIMIT,
    "wapurl": WAPURL_MAX,
}
LONG_FROM = 5  # parts from which the composer warns of the cost per recipient
ODD_SHOWN = 30  # characters forcing UCS-2 shown boxed, at most
# What the composer states beside its fields, before anyone types past it.
LIMITS = {
    "placeholders": recipient_fields.MAX_PLACEHOLDERS,
    "pasted_lines": contacts.MAX_PASTED_LINES,
    "parts": MAX_PARTS,
    "gsm_chars": MAX_PARTS * GSM7_PART,
    "ucs2_chars": MAX_PARTS * UCS2_PART,
    "long_from": LONG_FROM,
    "name": NAME_MAX,
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
    funds: funds.Funds | None = None  # what the account has against the estimate (check())
    mostly_cyrillic: bool = False  # said once, instead of boxing every letter
    odd_chars: tuple[str, ...] = ()  # the other characters forcing UCS-2, at most ODD_SHOWN
    more_odd_chars: int = 0  # and how many more
    covered: frozenset[str] = frozenset()  # placeholders every use of which has a fallback

    @property
    def cost_per_recipient(self) -> Decimal:
        return money(self.parts[1] * self.price_per_part)

    @property
    def limits(self) -> dict[str, int]:
        """What the composer states beside its fields (LIMITS)."""
        return LIMITS

    @property
    def long_text(self) -> bool:
        """Long enough to warn of its cost (LONG_FROM parts), not too long to send."""
        return LONG_FROM <= self.parts[1] <= MAX_PARTS

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

    def messages(self, sections: Iterable[str], only: Iterable[str] | None = None) -> list[str]:
        """The errors of these sections, in their order (only of those in ``only``, if given):
        what a page shows beside the field the sections concern."""
        wanted = None if only is None else set(only)
        return [
            m
            for section in sections
            if wanted is None or section in wanted
            for m in self.errors.get(section, [])
        ]

    def unplaced(self, placed: Iterable[str]) -> list[str]:
        """The errors of sections that no field shows (the page links them to the panel)."""
        known = set(placed)
        return [m for section, ms in self.errors.items() if section not in known for m in ms]


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
    else:
        result = _draft_facts(session, team, campaign)
    for section, messages in (extra_errors or {}).items():
        for message in messages:
            result.add(section, message)
    if result.recipients.count == 0:
        result.add("recipients", say.no_recipients(campaign.resend_of is not None))
    if not (campaign.text or "").strip():
        result.add("text", _("Write the message."))
    _check_length(result, campaign.text or "")
    _check_placeholders(result)
    _check_sender(result, campaign.sender or sender)
    _check_name_and_link(result, campaign)
    _check_time(result, team, now)
    count, parts_each = result.recipients.count, result.parts[1]
    result.funds = funds.of(session, team, now, count, parts_each, result.estimate, campaign.id)
    return result


def _draft_facts(session: Session, team: Team, campaign: Campaign) -> Check:
    """What the composer shows of a draft: its lists and pasted numbers, its text rendered for
    the first recipient, the fields its placeholders miss."""
    list_ids = recipients.team_list_ids(session, team.id, campaign.list_ids or [])
    pasted = campaign.pasted_numbers or ""
    too_long = contacts.pasted_lines_error(pasted)
    if not too_long and len(pasted) > PASTED_MAX:
        too_long = say.too_much_pasted(PASTED_MAX, len(pasted))
    found = recipients.resolve(
        session, team.id, list_ids, "" if too_long else pasted, team.phone_region
    )
    text = campaign.text or ""
    # Past the bound nothing of the text is parsed or rendered: it cannot be sent as it is,
    # and the check says so (_check_length).
    parsed = placeholders.parse(text if len(text) <= TEXT_CHECK_LIMIT else "")
    names = list(parsed.names)
    uses, most_uses = len(parsed.placeholders), recipient_fields.MAX_PLACEHOLDER_USES
    too_many = len(names) > recipient_fields.MAX_PLACEHOLDERS or uses > most_uses
    # Over the limit nothing is looked up: the text cannot be sent as it is.
    known = [] if too_many else [n for n in names if n in found.field_names]
    facts = recipient_fields.field_facts(session, team.id, found, known) if found.count else {}
    missing = {name: fact.missing for name, fact in facts.items()}
    sample = None
    first = recipients.first_recipient(session, team.id, found)
    if first is not None and parsed.text:
        rendered = parsed.render(first[1])
        sample = Sample(first[0], rendered, analyse(rendered))
    parts = recipient_fields.parts_range(parsed.text, facts, found) if parsed.text else (0, 0)
    marked = placeholders.mark_ucs2(parsed.text)
    result = _facts(session, team, campaign, found, sample, parts, marked, names, missing)
    result.covered = frozenset(names) - {p.name for p in parsed.placeholders if p.fallback is None}
    for slip in parsed.slips:
        result.add("placeholder_syntax", say.slip(text, slip))
    if parsed.more_slips:
        result.add("placeholder_syntax", say.more_slips(parsed.more_slips))
    if too_long:
        result.add("pasted_lines", too_long)
    if too_many:
        _too_many_placeholders(result, len(names), uses)
    if sample is not None and not sample.text.strip():
        result.add("text", say.empty_sample(sample.phone))
    return result


def _too_many_placeholders(result: Check, names: int, uses: int) -> None:
    most, most_uses = recipient_fields.MAX_PLACEHOLDERS, recipient_fields.MAX_PLACEHOLDER_USES
    if names > most:
        result.add("placeholder_limit", say.too_many_names(most, names))
    else:
        result.add("placeholder_limit", say.too_many_uses(most_uses, uses))
    result.placeholders = []


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
    marked = placeholders.mark_ucs2(sample.text if sample else campaign.text or "")
    return _facts(session, team, campaign, found, sample, (low, high), marked, [], {})


def _facts(
    session: Session,
    team: Team,
    campaign: Campaign,
    found: recipients.Recipients,
    sample: Sample | None,
    parts: tuple[int, int],
    marked: list[tuple[str, bool]],
    names: list[str],
    missing: dict[str, int],
) -> Check:
    price = Decimal(team.price_per_part or 0)
    # The text as it will travel: the sample's when there is one, else as a recipient without
    # fields gets it (each placeholder its fallback, or nothing).
    text = campaign.text or ""
    travels = sample.text if sample else placeholders.render(text[:TEXT_CHECK_LIMIT], {})
    info = analyse(travels)
    odd = info.ucs2_chars
    cyrillic = info.encoding == "UCS-2" and placeholders.is_mostly_cyrillic(travels)
    if cyrillic:
        odd = tuple(ch for ch in odd if not ("\u0400" <= ch <= "\u04ff"))
    return Check(
        recipients=found,
        info=info,
        mostly_cyrillic=cyrillic,
        odd_chars=odd[:ODD_SHOWN],
        more_odd_chars=max(0, len(odd) - ODD_SHOWN),
        marked=[] if cyrillic else marked,
        placeholders=names,
        missing=missing,
        sample=sample,
        parts=parts,
        price_per_part=price,
        estimate=money(found.count * parts[1] * price),
        sender_names=senders.names_of(session, team.id),
        send_at=campaign.send_at,
    )


def _check_length(result: Check, text: str) -> None:
    """A message takes at most MAX_PARTS parts (see webapp.iqsms.parts): past them the check
    says by how much, for the text as typed or for its longest rendering."""
    most = say.most_parts(MAX_PARTS, LIMITS["gsm_chars"], LIMITS["ucs2_chars"])
    if len(text) > TEXT_CHECK_LIMIT:
        result.add("text_length", say.text_too_long(len(text), most))
        return
    low, high = result.parts
    if high <= MAX_PARTS:
        return
    if not result.placeholders:
        info = result.info
        over = info.units - MAX_PARTS * info.per_part
        result.add("text_length", say.too_many_parts(high, most, over))
    elif low > MAX_PARTS:  # too long whatever the fields hold
        result.add("text_length", say.too_many_parts_at_shortest(low, most))
    else:
        result.add("text_length", say.too_many_parts_at_longest(high, most))


def _check_name_and_link(result: Check, campaign: Campaign) -> None:
    name = campaign.name or ""
    if len(name) > NAME_MAX:
        result.add("name", say.name_too_long(NAME_MAX, len(name)))
    link = campaign.wapurl or ""
    if len(link) > WAPURL_MAX:
        result.add("wapurl", say.link_too_long(WAPURL_MAX, len(link)))
    elif " " in link.strip():
        result.add(
            "wapurl", _("A WAP-push link is one address without spaces, like wap.example.ru.")
        )


def _check_placeholders(result: Check) -> None:
    """Every placeholder must be a field of the chosen lists, filled in for every recipient,
    unless each of its uses has a fallback (``{name|friend}``): then the recipients without it
    get the fallback. Without lists (pasted numbers only) a fallback is what everyone gets."""
    found, missing = result.recipients, result.missing
    for name in result.placeholders:
        if name in result.covered and (name in found.field_names or not found.list_ids):
            continue
        if name not in found.field_names:
            if found.field_names:
                result.add("placeholders", say.not_a_field(name, found.field_names))
            else:
                result.add("placeholders", say.no_fields(name))
        elif missing.get(name):
            empty = say.empty_for_some(name, missing[name], found.count, found.pasted_only)
            result.add("placeholders", empty)


def _check_sender(result: Check, sender: str | None) -> None:
    """The sender name must be one of the team's that can send (see senders.can_send)."""
    if not sender:
        result.add("sender", _("Choose a sender name."))
        return
    row = next((s for s in result.sender_names if s.name == sender), None)
    if row is not None and senders.can_send(row):
        return
    status = gateway_texts.sender_status_text(row.status) if row is not None else None
    result.add("sender", say.sender_cannot_send(sender, status, row.info if row else ""))


def _check_time(result: Check, team: Team, now: datetime) -> None:
    if result.send_at is not None and result.send_at <= now:
        result.add("when", say.time_passed(team_time(now, team), zone_name_of(team, now)))
