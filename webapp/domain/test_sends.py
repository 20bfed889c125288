"""Test sends: the composer's "Send a test". The message as the draft's sample recipient will
get it goes to one or a few typed numbers (by default the person's own), never to the draft's
recipients.

A test send is a campaign of its own (``test_of`` = the draft's id) whose recipients are the
typed numbers and whose text is the sample's, already rendered; it is committed by
:func:`webapp.domain.campaigns.commit` like any campaign (the same check, messages, audit
entry), and the worker dispatches it, applies its statuses and counts its cost in the usage
tables. It is bounded: at most :data:`MAX_NUMBERS` numbers a test, and :data:`HOURLY_LIMIT`
tests a team in any hour (counted from the audit log, which a deleted draft does not empty).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from webapp.domain import campaigns, composer, recipients
from webapp.domain import messages as table
from webapp.domain.audit import record
from webapp.domain.funds import Funds
from webapp.formatting import balance_amount, count
from webapp.models import AuditEvent, Campaign, CampaignState, Message, Team, User, utcnow

MAX_NUMBERS = 5
MAX_TYPED = 200  # characters: a few numbers with their spaces and separators
HOURLY_LIMIT = 10
SHOWN = 3  # the composer shows this many of a draft's latest tests
ACTION = "campaign_test_sent"


class TestSendError(ValueError):
    """A test that cannot be sent; the message says why, in plain words."""

    __test__ = False  # not a test class, whatever pytest thinks of its name


@dataclass
class TestSend:
    """One test send of a draft, with its messages (at most MAX_NUMBERS)."""

    __test__ = False

    campaign: Campaign
    messages: Sequence[Message]

    @property
    def live(self) -> bool:
        return table.is_live(self.campaign)


# -- reads ---------------------------------------------------------------------------------------


def latest(session: Session, team_id: int, draft_id: int) -> list[TestSend]:
    """The draft's latest test sends, newest first, each with its messages."""
    rows = session.scalars(
        select(Campaign)
        .where(Campaign.team_id == team_id, Campaign.test_of == draft_id)
        .order_by(Campaign.id.desc())
        .limit(SHOWN)
    ).all()
    if not rows:
        return []
    messages = session.scalars(
        select(Message)
        .where(Message.team_id == team_id, Message.campaign_id.in_([c.id for c in rows]))
        .order_by(Message.id)
        .limit(SHOWN * MAX_NUMBERS)  # a test has at most MAX_NUMBERS messages
    ).all()
    by_campaign: dict[int, list[Message]] = {}
    for message in messages:
        by_campaign.setdefault(message.campaign_id, []).append(message)
    return [TestSend(c, by_campaign.get(c.id, [])) for c in rows]


def sent_this_hour(session: Session, team_id: int, now: datetime) -> int:
    """How many test sends the team made in the hour before ``now``."""
    return session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.team_id == team_id,
            AuditEvent.action == ACTION,
            AuditEvent.created_at > now - timedelta(hours=1),
        )
    )


# -- sending -------------------------------------------------------------------------------------


def numbers(typed: str, region: str) -> list[str]:
    """The typed numbers, normalised and each once (as pasted numbers are read), or why they
    cannot be used."""
    if len(typed or "") > MAX_TYPED:
        raise TestSendError(
            ngettext(
                "Type at most %(num)s number (%(most)s characters); this has %(typed)s.",
                "Type at most %(num)s numbers (%(most)s characters); this has %(typed)s.",
                MAX_NUMBERS,
                most=count(MAX_TYPED),
                typed=count(len(typed)),
            )
        )
    pasted = recipients.parse_pasted(typed or "", region)
    if pasted.invalid:
        given, reason = pasted.invalid[0]
        raise TestSendError(
            _(
                "%(given)s is %(reason)s. Type numbers like +7 916 123-45-67.",
                given=given,
                reason=reason,
            )
        )
    if not pasted.phones:
        raise TestSendError(_("Type the number to send the test to."))
    if len(pasted.phones) > MAX_NUMBERS:
        raise TestSendError(
            ngettext(
                "A test goes to at most %(num)s number; you typed %(typed)s.",
                "A test goes to at most %(num)s numbers; you typed %(typed)s.",
                MAX_NUMBERS,
                typed=count(len(pasted.phones)),
            )
        )
    return pasted.phones


def send_test(
    session: Session,
    team: Team,
    draft: Campaign,
    by: User | None,
    typed: str,
    *,
    now: datetime | None = None,
) -> Campaign:
    """Send the draft's message, as its sample recipient will get it, to the typed numbers:
    a campaign of its own, committed and left to the worker. Commits; raises
    :class:`TestSendError` (nothing written) when it cannot be sent."""
    now = now or utcnow()
    phones, sample = _what_to_send(session, team, draft, typed, now)
    # Count and add under the team's row lock, so that two tests at once cannot both pass
    # the limit: the row is written (to itself) first, which holds it until commit (its row
    # lock on PostgreSQL, the single write lock on SQLite).
    session.execute(
        update(Team)
        .where(Team.id == team.id)
        .values(id=Team.id)
        .execution_options(synchronize_session=False)
    )
    if sent_this_hour(session, team.id, utcnow()) >= HOURLY_LIMIT:
        session.rollback()
        raise TestSendError(_hourly_limit_reached())
    test = campaigns.new_draft(session, team, by)
    test.name = _("Test of %(name)s", name=draft.name)[:200]
    test.text = sample.text
    test.sender, test.flash, test.wapurl = draft.sender, draft.flash, draft.wapurl
    test.list_ids, test.pasted_numbers = [], "\n".join(phones)
    test.test_of = draft.id
    record(
        session,
        team.id,
        ACTION,
        by,
        campaign=draft.id,
        test=test.id,
        numbers=len(phones),
        sample=sample.phone,
    )
    session.flush()
    try:
        campaigns.commit(session, test, by, now=now, expected=len(phones))
    except campaigns.NotCovered as exc:  # a test is not sent anyway: there is no such choice
        session.rollback()
        raise TestSendError(_not_enough_for(exc.funds)) from exc
    except campaigns.CampaignError as exc:
        session.rollback()
        raise TestSendError(str(exc)) from exc
    return test


def _hourly_limit_reached() -> str:
    return ngettext(
        "A team can send at most %(num)s test an hour. Try again later, or send the campaign.",
        "A team can send at most %(num)s tests an hour. Try again later, or send the campaign.",
        HOURLY_LIMIT,
    )


def _not_enough_for(funds: Funds) -> str:
    return _(
        "The account has %(amount)s, not enough for this test (%(needed)s). "
        "Top up the account first.",
        amount=balance_amount(funds.spendable or 0, funds.type, unit=True),
        needed=balance_amount(funds.needed, funds.type, unit=True),
    )


def _what_to_send(
    session: Session, team: Team, draft: Campaign, typed: str, now: datetime
) -> tuple[list[str], composer.Sample]:
    """The typed numbers and the draft's sample, or TestSendError saying why not."""
    if draft.state != CampaignState.DRAFT or draft.test_of is not None:
        raise TestSendError(_("Only a draft can be tested; this campaign is not one any more."))
    phones = numbers(typed, team.phone_region)
    result = composer.check(session, team, draft, now)
    if result.sample is None:
        raise TestSendError(
            _(
                "Write the message and choose recipients first: a test sends the message as the "
                "first recipient will get it."
            )
        )
    if result.errors.get("sender"):
        raise TestSendError(result.errors["sender"][0])
    stopped = _stopped(session, team, phones)
    if stopped:
        raise TestSendError(
            _(
                "+%(phone)s is on the stop list, so nothing is sent to it. Type another number.",
                phone=stopped[0],
            )
        )
    return phones, result.sample


def _stopped(session: Session, team: Team, phones: list[str]) -> list[str]:
    found = recipients.resolve(session, team.id, [], "\n".join(phones), team.phone_region)
    kept = set(found.pasted_only)
    return [p for p in phones if p not in kept]
