"""Usage by quarter hour (``webapp.domain.usage``): what dispatch and statuses record, that
concurrent writers lose nothing, and that the migration which introduced it backfills the usage of
messages sent before it exactly as the recording would have."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from tests.helpers import insert_old_row, make_campaign, sandbox_login, team_of
from webapp.domain import gateways, sending, statuses, usage
from webapp.extensions import db
from webapp.models import Campaign, Message, UsagePeriod

T = datetime(2030, 3, 9, 10, 0, tzinfo=UTC)
COLUMNS = ("accepted", "rejected", "parts", "cost", "estimated_parts", "estimated_cost")
COLUMNS += ("delivered", "failed")


def periods(app, campaign_id=None) -> list[tuple]:
    """Every usage row as (campaign, period start, accepted, rejected, parts, cost, estimated
    parts, estimated cost, delivered, failed), in order."""
    with app.app_context():
        query = sa.select(
            UsagePeriod.campaign_id,
            UsagePeriod.period_start,
            *(getattr(UsagePeriod, c) for c in COLUMNS),
        ).order_by(UsagePeriod.campaign_id, UsagePeriod.period_start)
        if campaign_id is not None:
            query = query.where(UsagePeriod.campaign_id == campaign_id)
        return [_plain(row) for row in db.session.execute(query)]


def _plain(row) -> tuple:
    return tuple(Decimal(v).quantize(Decimal("0.01")) if isinstance(v, Decimal) else v for v in row)


def record(app, team_id, campaign_id, when, **sent):
    with app.app_context():
        usage.record_sent(db.session, team_id, campaign_id, when, usage.Sent(**sent))
        db.session.commit()


def test_one_quarter_hour_accumulates_and_the_next_starts_a_row(app, make_person):
    team = team_of(app, make_person("ann@example.com"))
    first = make_campaign(app, team, 1)
    second = make_campaign(app, team, 1)
    record(app, team.id, first, T, accepted=2, parts=3, cost=Decimal("7.50"))
    record(
        app,
        team.id,
        first,
        T + timedelta(minutes=14, seconds=59, microseconds=999_999),
        accepted=1,
        rejected=1,
        parts=2,
        cost=Decimal("4.80"),
        estimated_parts=2,
        estimated_cost=Decimal("4.80"),
    )
    record(app, team.id, first, T + timedelta(minutes=15), accepted=1, parts=1, cost=Decimal("2.5"))
    record(app, team.id, second, T + timedelta(minutes=5), rejected=3)
    record(app, team.id, second, T + timedelta(minutes=6))  # nothing answered: no row
    q = T + timedelta(minutes=15)
    assert periods(app) == [
        (first, T, 3, 1, 5, Decimal("12.30"), 2, Decimal("4.80"), 0, 0),
        (first, q, 1, 0, 1, Decimal("2.50"), 0, Decimal("0.00"), 0, 0),
        (second, T, 0, 3, 0, Decimal("0.00"), 0, Decimal("0.00"), 0, 0),
    ]
    with app.app_context():
        found = usage.totals(db.session, team.id, T, T + timedelta(minutes=15))
    assert (found.messages, found.parts, found.cost) == (7, 5, Decimal("12.30"))


def test_outcomes_count_in_the_quarter_hour_the_message_was_sent(app, make_person):
    team = team_of(app, make_person("ann@example.com"))
    campaign = make_campaign(app, team, 1)
    record(app, team.id, campaign, T, accepted=3, parts=3, cost=Decimal("7.50"))
    late = T + timedelta(minutes=20)
    with app.app_context():
        usage.record_outcomes(
            db.session,
            team.id,
            [
                (campaign, T + timedelta(minutes=1), "delivered"),
                (campaign, T + timedelta(minutes=14), "failed"),
                (campaign, late, "delivered"),  # a period without sends yet: a row of its own
                (campaign, T, "enroute"),  # not an outcome
                (campaign, T, "expired"),  # not counted as failed
                (campaign, None, "delivered"),  # never sent: nowhere to count it
            ],
        )
        db.session.commit()
    assert periods(app) == [
        (campaign, T, 3, 0, 3, Decimal("7.50"), 0, Decimal("0.00"), 1, 1),
        (campaign, T + timedelta(minutes=15), 0, 0, 0, Decimal("0.00"), 0, Decimal("0.00"), 1, 0),
    ]


def test_concurrent_writers_of_one_period_lose_nothing(app, make_person):
    team = team_of(app, make_person("ann@example.com"))
    campaign = make_campaign(app, team, 1)
    errors = []

    def writer():
        try:
            for _ in range(20):
                record(app, team.id, campaign, T, accepted=1, parts=2, cost=Decimal("5.00"))
                with app.app_context():
                    usage.record_outcomes(db.session, team.id, [(campaign, T, "delivered")])
                    db.session.commit()
        except Exception as exc:  # reported below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert periods(app) == [
        (campaign, T, 80, 0, 160, Decimal("400.00"), 0, Decimal("0.00"), 80, 0),
    ]


def test_concurrent_dispatch_loops_and_statuses_lose_no_counts(app, sandbox, sandbox_clock, team):
    sandbox.control("PATCH", f"/accounts/{sandbox_login(app, team)}", json={"balance": "100000"})
    big = make_campaign(app, team, 900, text="Привет {n}, " + "ы" * 70)  # 2 parts each
    small = make_campaign(app, team, 300, phones=[*(f"7916{n:07d}" for n in range(299)), "123"])
    reports = []

    def loop():
        with app.app_context():
            checks = statuses.Checks.from_config(app.config)
            factory = gateways.client_factory(app.config)
            reports.append(
                sending.dispatch_due_messages(
                    db.session, client_factory=factory, checks=checks, batch_size=40
                )
            )
            db.session.remove()

    threads = [threading.Thread(target=loop) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sum(r.claimed for r in reports) == 1200

    sandbox_clock.advance(60)
    with app.app_context():
        statuses.drain_status_queues(db.session, client_factory=gateways.client_factory(app.config))
    for campaign_id, parts in ((big, 1800), (small, 299)):
        with app.app_context():
            campaign = db.session.get(Campaign, campaign_id)
            totals = db.session.execute(
                sa.select(*usage.sums()).where(UsagePeriod.campaign_id == campaign_id)
            ).one()
            found = usage.totals_of(totals)
        assert campaign.queued == campaign.sending == 0
        # Every message is past its send result (a state counter of its own now).
        answered = campaign.accepted + campaign.enroute + campaign.delivered + campaign.failed
        assert (found.accepted, found.rejected) == (answered, campaign.rejected)
        assert found.messages == campaign.recipients
        expected = (parts, Decimal("2.50") * parts)
        assert (found.parts, found.cost) == (campaign.parts, campaign.cost) == expected
        assert (found.delivered, found.failed) == (campaign.delivered, campaign.failed)
        assert found.delivered + found.failed == found.accepted  # every final status counted
    assert campaign.rejected == 1


# -- the migration that introduced usage periods -------------------------------------------------

INITIAL = "30c79771aad7"


def _insert_before_usage_existed(app) -> dict[str, int]:
    """Two teams' campaigns and messages, written at the schema before usage periods."""
    with app.app_context(), db.engine.begin() as connection:
        team_ids = [
            insert_old_row(
                connection,
                "teams",
                name=name,
                created_at=T,
                status_queue_name=f"queue{name}",
                gateway_url="http://127.0.0.1:9/messages/v2/",
            )
            for name in ("A", "B")
        ]
        user_id = insert_old_row(
            connection,
            "users",
            email="ann@example.com",
            password_hash="x",
            created_at=T,
            session_token="t",
        )
        ids = {"team_a": team_ids[0], "team_b": team_ids[1]}
        for key, team_id in (("a1", team_ids[0]), ("a2", team_ids[0]), ("b1", team_ids[1])):
            ids[key] = insert_old_row(
                connection,
                "campaigns",
                team_id=team_id,
                created_by_id=user_id,
                name=key,
                state="finished",
                created_at=T,
                updated_at=T,
            )

        def message(campaign, state, sent_at, parts=0, cost=None, estimated=False):
            team_id = team_ids[1] if campaign == "b1" else team_ids[0]
            return {
                "team_id": team_id,
                "campaign_id": ids[campaign],
                "phone": "79160000000",
                "text": "Hi",
                "state": state,
                "gateway_status": state,
                "parts": parts,
                "cost": cost,
                "cost_estimated": estimated,
                "sent_at": sent_at,
                "checks": 0,
            }

        m = timedelta(minutes=1)
        connection.execute(
            sa.insert(Message.__table__),
            [
                message("a1", "delivered", T, 1, Decimal("2.50")),
                message("a1", "failed", T + 15 * m - timedelta(microseconds=1), 2, Decimal("5")),
                message("a1", "rejected", T + 15 * m),
                message(
                    "a1", "accepted", T + 29 * m + timedelta(seconds=59), 1, Decimal("2.4"), True
                ),
                message("a1", "expired", T + 20 * m, 1, Decimal("2.50")),
                message("a1", "unknown", None),
                message("a1", "queued", None),
                message("a1", "cancelled", None),
                message(
                    "a1", "enroute", T.replace(hour=23, minute=59, second=59), 3, Decimal("7.5")
                ),
                message(
                    "a2",
                    "delivered",
                    T.replace(hour=0) + timedelta(days=1),
                    1,
                    Decimal("2.5"),
                    True,
                ),
                message(
                    "a2",
                    "delivered",
                    T.replace(hour=0, minute=5) + timedelta(days=1),
                    2,
                    Decimal("5"),
                ),
                message("b1", "failed", T + 3 * m, 1, Decimal("1.95")),
            ],
        )
    return ids


def test_the_migration_backfills_usage_as_recording_would_have(make_app):
    app = make_app(create_schema=False)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["db", "upgrade", INITIAL])
    assert result.exit_code == 0, result.output
    ids = _insert_before_usage_existed(app)
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output

    a1, a2, b1 = ids["a1"], ids["a2"], ids["b1"]
    q = timedelta(minutes=15)
    next_day = T.replace(hour=0) + timedelta(days=1)
    zero = Decimal("0.00")
    backfilled = periods(app)
    assert backfilled == [
        # delivered (1 part) and failed (2 parts) in 10:00-10:15
        (a1, T, 2, 0, 3, Decimal("7.50"), 0, zero, 1, 1),
        # rejected, accepted at our estimate 2.40, expired (sent, so paid)
        (a1, T + q, 2, 1, 2, Decimal("4.90"), 1, Decimal("2.40"), 0, 0),
        (a1, T.replace(hour=23, minute=45), 1, 0, 3, Decimal("7.50"), 0, zero, 0, 0),
        (a2, next_day, 2, 0, 3, Decimal("7.50"), 1, Decimal("2.50"), 2, 0),
        (b1, T, 1, 0, 1, Decimal("1.95"), 0, zero, 0, 1),
    ]
    with app.app_context():
        team_ids = set(db.session.scalars(sa.select(UsagePeriod.team_id)))
        assert team_ids == {ids["team_a"], ids["team_b"]}
        assert (
            db.session.scalar(sa.select(UsagePeriod.team_id).where(UsagePeriod.campaign_id == b1))
            == ids["team_b"]
        )

    # What dispatch and statuses would have recorded for the same messages, one by one.
    with app.app_context():
        sent = db.session.execute(
            sa.select(
                Message.team_id,
                Message.campaign_id,
                Message.state,
                Message.sent_at,
                Message.parts,
                Message.cost,
                Message.cost_estimated,
            ).where(Message.sent_at.is_not(None))
        ).all()
        db.session.execute(sa.delete(UsagePeriod))
        for team_id, campaign_id, state, sent_at, parts, cost, estimated in sent:
            if state == "rejected":
                answer = usage.Sent(rejected=1)
            else:
                answer = usage.Sent(accepted=1, parts=parts, cost=cost)
                if estimated:
                    answer.estimated_parts, answer.estimated_cost = parts, cost
            usage.record_sent(db.session, team_id, campaign_id, sent_at, answer)
            usage.record_outcomes(db.session, team_id, [(campaign_id, sent_at, state)])
        db.session.commit()
    assert periods(app) == backfilled
