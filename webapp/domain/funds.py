"""What the account has, against what a campaign will cost: does it cover the estimate, and
about how many of the messages when it does not.

The composer's check fills it in (``composer.Check.funds``), so the composer's live panel, the
confirmation page and :func:`webapp.domain.campaigns.commit` (which refuses a campaign it does
not cover unless the person chose to send anyway) all read the one rule here.

What the team's other campaigns still have to send (scheduled, sending or paused: the share of
each one's estimate, stored when it was committed, that its unsent messages stand for) is held
for them: a campaign is compared with what is left after them, so two campaigns that each fit
but not together are not both sent without a word.

An account billed in money compares RUB (balance plus credit) with the estimated cost; one
billed in SMS compares its parts with the parts the messages take (which of the two an account
is billed in is :func:`webapp.domain.balance.billed_in`). The figures are the latest stored
snapshot, never a gateway call: the live panel checks on every keystroke. A reading older than
:data:`FRESH` is asked for again when the composer or the confirmation page opens
(:func:`ask_for_fresh`), and the worker's balance tick takes it within seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from flask_babel import ngettext
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp import texts
from webapp.domain import balance
from webapp.formatting import balance_amount, count
from webapp.models import Campaign, CampaignState, Team

# Campaigns whose unsent messages will still be sent (a paused one may be resumed).
HOLDING = (CampaignState.SCHEDULED, CampaignState.SENDING, CampaignState.PAUSED)

# A reading older than this is read again before sending (in the background).
FRESH = timedelta(minutes=1)
# The live panel asks again for a reading under way at most this often and this many times
# (the worker's balance tick runs every 10 s; its gateway call has a deadline of its own).
POLL_SECONDS = 3
POLLS = 10


@dataclass(frozen=True)
class Funds:
    """What the account has (``available``, of ``type``: "RUB" or "SMS") against what the
    campaign needs (``needed``: its estimated cost in RUB, or its parts in SMS) for its
    ``messages``, each taking at most ``per_message`` (RUB or parts).

    ``available`` is None when the balance was never read; ``as_of`` is when the reading was
    taken; ``failure`` says why the last attempt to read it failed ("" when it did not), and
    ``stale`` that the reading is older than :data:`FRESH`. ``held`` is what the team's other
    campaigns (``held_by`` of them) still have to send, in the same unit.
    """

    type: str
    needed: Decimal
    messages: int
    per_message: Decimal
    available: Decimal | None
    as_of: datetime | None
    failure: str
    stale: bool
    held: Decimal = Decimal(0)
    held_by: int = 0

    @property
    def known(self) -> bool:
        return self.available is not None

    @property
    def spendable(self) -> Decimal | None:
        """What the account has, less what the team's other campaigns still have to send."""
        return None if self.available is None else self.available - self.held

    @property
    def short(self) -> bool:
        """What is left after the other campaigns does not cover the estimate."""
        spendable = self.spendable
        return spendable is not None and self.messages > 0 and self.needed > spendable

    @property
    def covers(self) -> int:
        """About how many of the messages what the account has pays for (at the largest
        message's parts, as the estimate is): all of them when it is not short."""
        if not self.short:
            return self.messages
        spendable = self.spendable
        assert spendable is not None
        if spendable <= 0:
            return 0
        if self.per_message <= 0:
            return self.messages
        return min(self.messages, int(spendable // self.per_message))

    def shortfall(self) -> str:
        """What the account lacks for the campaign, in words (a campaign refused for it)."""
        return ngettext(
            "The account has %(amount)s left for it, which covers about %(covers)s "
            "of %(count)s message. Choose to send anyway, or top up.",
            "The account has %(amount)s left for it, which covers about %(covers)s "
            "of %(count)s messages. Choose to send anyway, or top up.",
            self.messages,
            amount=balance_amount(self.spendable, self.type, unit=True),
            covers=count(self.covers),
            count=count(self.messages),
        )

    poll_seconds = POLL_SECONDS

    def poll_again(self, polls: int) -> bool:
        """Whether the page, having asked ``polls`` times already, asks once more for a
        reading that is still older than :data:`FRESH` (the worker is reading it)."""
        return self.stale and 0 <= polls < POLLS


def of(
    session: Session,
    team: Team,
    now: datetime,
    messages: int,
    parts_each: int,
    estimate: Decimal,
    campaign_id: int | None = None,
) -> Funds:
    """The team's funds against a campaign (``campaign_id``, not counted among those holding
    money) of ``messages`` taking up to ``parts_each`` parts each, estimated at ``estimate``
    RUB, from the latest snapshot."""
    entries = balance.latest(session, team.id)
    kind, entry = balance.billed_in(entries)
    if kind == "SMS":
        needed, per_message = Decimal(messages * parts_each), Decimal(parts_each)
    else:
        needed, per_message = estimate, Decimal(team.price_per_part or 0) * parts_each
    as_of = entries[0].taken_at if entries else None
    held, held_by = _held(session, team.id, kind, campaign_id)
    return Funds(
        type=kind,
        needed=needed,
        messages=messages,
        per_message=per_message,
        available=entry.available if entry is not None else None,
        as_of=as_of,
        failure=texts.shown(team.balance_error),  # in the reader's language
        stale=as_of is None or now - as_of > FRESH,
        held=held,
        held_by=held_by,
    )


def _held(
    session: Session, team_id: int, kind: str, campaign_id: int | None
) -> tuple[Decimal, int]:
    """What the team's other campaigns still to send hold (RUB, or parts for ``kind`` SMS):
    each one's committed estimate times the share of its messages not sent yet."""
    committed = Campaign.estimate_parts if kind == "SMS" else Campaign.estimate
    unsent = Campaign.queued + Campaign.sending
    total, count = session.execute(
        select(func.sum(committed * unsent / Campaign.recipients), func.count()).where(
            Campaign.team_id == team_id,
            Campaign.state.in_(HOLDING),
            Campaign.recipients > 0,
            unsent > 0,
            Campaign.id != (campaign_id or 0),
        )
    ).one()
    return Decimal(total or 0).quantize(Decimal("0.01")), count


def ask_for_fresh(session: Session, team: Team, now: datetime) -> bool:
    """Have the worker read the balance now if the last reading (or attempt) is older than
    :data:`FRESH`: once per composer or confirmation visit at most, never per keystroke, and
    at most once a minute per team however many pages ask. Commits; whether it asked."""
    asked = balance.ask_soon(session, team.id, now, FRESH)
    session.commit()
    return asked
