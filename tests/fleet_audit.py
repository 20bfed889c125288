"""What a fleet's run did, judged from the sandbox's own record (what it received, and when
each message's final status became visible) against the dashboard's database: messages sent
once or twice, lost, statuses applied, counters equal to real counts, how late statuses came.

Shared by tests/test_scale_out.py, tests/test_soak.py and benchmarks/soak.py.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask

from webapp.domain.statuses import TARGET
from webapp.extensions import db
from webapp.models import MOVING_STATES, Campaign, CampaignState, Message, MessageState, Team

ACCEPTED = "accepted"  # the sandbox's send status of a message it took


@dataclass
class Audit:
    created: int = 0
    sent_once: int = 0
    sent_twice: int = 0  # messages the sandbox received more than once: must be 0
    never_reached: int = 0  # not received by the sandbox (unknown after a drop, queued...)
    unknown: int = 0
    held: int = 0  # queued in a paused campaign: waiting for a person, by design
    statuses_applied: int = 0  # final statuses the sandbox gave that the dashboard shows
    # Must be empty: what was lost, never settled or miscounted, in words.
    lost: list[str] = field(default_factory=list)
    statuses_missing: list[str] = field(default_factory=list)
    counters_wrong: list[str] = field(default_factory=list)
    not_final: list[str] = field(default_factory=list)  # campaigns still not finished
    # Paused campaigns of teams whose gateway never answers in time: paused by design (five
    # failures in a row), so not counted as not final.
    paused_as_expected: list[str] = field(default_factory=list)
    states: Counter = field(default_factory=Counter)
    status_delays: list[float] = field(default_factory=list)  # seconds, visible -> applied

    @property
    def counters_equal(self) -> bool:
        return not self.counters_wrong

    @property
    def worst_status_seconds(self) -> float | None:
        return max(self.status_delays) if self.status_delays else None

    def failures(self) -> list[str]:
        """Every must-be that failed, in words (empty: the run is sound)."""
        found = []
        if self.sent_twice:
            found.append(f"{self.sent_twice} messages sent twice")
        for name in ("lost", "statuses_missing", "counters_wrong", "not_final"):
            items = getattr(self, name)
            if items:
                found.append(f"{name.replace('_', ' ')}: {len(items)}, e.g. {items[:5]}")
        return found

    def summary(self) -> dict[str, Any]:
        worst = self.worst_status_seconds
        return {
            "messages created": self.created,
            "sent once": self.sent_once,
            "sent twice (must be 0)": self.sent_twice,
            "lost (must be 0)": len(self.lost),
            "never reached the gateway": self.never_reached,
            "unknown (explained)": self.unknown,
            "held in paused campaigns": self.held,
            "statuses applied": self.statuses_applied,
            "statuses missing (must be 0)": len(self.statuses_missing),
            "counters equal to real counts": "yes" if self.counters_equal else "no",
            "campaigns not final (must be 0)": len(self.not_final),
            "campaigns paused as expected": len(self.paused_as_expected),
            "worst time a status took to appear (s)": None if worst is None else round(worst, 1),
            "states": dict(sorted(self.states.items())),
        }


def _timestamp(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def audit(
    app: Flask, received: dict[str, list[dict[str, Any]]], may_pause: frozenset[int] = frozenset()
) -> Audit:
    """Judge every campaign in the database against ``received`` (the sandbox's record, by
    account login: Fleet.received). Campaigns of the teams ``may_pause`` (whose gateway never
    answers in time) may end paused."""
    result = Audit()
    with app.app_context():
        logins = dict(db.session.execute(sa.select(Team.id, Team.gateway_login)).all())
        for campaign in db.session.scalars(sa.select(Campaign).order_by(Campaign.id)):
            if campaign.state in (CampaignState.DRAFT, CampaignState.SCHEDULED):
                continue
            rows = db.session.execute(
                sa.select(
                    Message.id, Message.state, Message.smsc_id, Message.gateway_status,
                    Message.final_at, Message.updated_at,
                ).where(Message.campaign_id == campaign.id)
            ).all()  # fmt: skip
            by_client: dict[str, list[dict]] = defaultdict(list)
            for row in received.get(logins[campaign.team_id], []):
                by_client[str(row["clientId"])].append(row)
            _judge_campaign(result, campaign, rows, by_client, campaign.team_id in may_pause)
        db.session.remove()
    return result


def _judge_campaign(
    result: Audit, campaign: Campaign, rows: list, by_client: dict, may_pause: bool
) -> None:
    counted = Counter(row.state for row in rows)
    for state in MessageState:
        if getattr(campaign, state) != counted.get(state, 0):
            result.counters_wrong.append(
                f"campaign {campaign.id} {state}: counter {getattr(campaign, state)},"
                f" real {counted.get(state, 0)}"
            )
    paused = campaign.state == CampaignState.PAUSED
    described = f"campaign {campaign.id} {campaign.state} {dict(counted)} {campaign.pause_reason}"
    if paused and may_pause:
        result.paused_as_expected.append(described)
    elif campaign.state != CampaignState.FINISHED:
        result.not_final.append(described)
    result.states.update(counted)
    for row in rows:
        result.created += 1
        if paused and row.state == MessageState.QUEUED:
            result.held += 1  # never sent: the sandbox must not have it
            if by_client.get(str(row.id)):
                result.lost.append(f"message {row.id} (queued): the gateway received it")
            continue
        _judge_message(result, row, by_client.get(str(row.id), []))


def _judge_message(result: Audit, row: Any, copies: list[dict]) -> None:
    where = f"message {row.id} ({row.state})"
    if len(copies) > 1:
        result.sent_twice += 1
    elif len(copies) == 1:
        result.sent_once += 1
    else:
        result.never_reached += 1
    if row.state in MOVING_STATES:
        result.lost.append(f"{where}: never settled")
        return
    if row.state == MessageState.UNKNOWN:
        result.unknown += 1
        if not row.gateway_status:
            result.lost.append(f"{where}: unknown without a reason")
        return
    if row.state == MessageState.CANCELLED:
        if copies:
            result.lost.append(f"{where}: shown cancelled, yet the gateway received it")
        return
    if len(copies) != 1 or str(copies[0]["smscId"]) != str(row.smsc_id or ""):
        result.lost.append(f"{where}: the gateway's record disagrees: {copies}")
        return
    copy = copies[0]
    if copy["status"] != ACCEPTED:
        return  # refused when sent: no status to follow
    expected = TARGET[copy["finalStatus"]][0]
    if row.state != expected:
        result.statuses_missing.append(f"{where}: the gateway says {copy['finalStatus']}")
        return
    result.statuses_applied += 1
    applied = _timestamp(row.final_at or row.updated_at)
    if applied is not None and copy["finalAt"] is not None:
        result.status_delays.append(max(0.0, applied - float(copy["finalAt"])))
