"""Delivery statuses: the queue drain and the status poll against the sandbox over HTTP.
Out-of-order and duplicate statuses, a status before its send result, a lost queue reply
recovered by polling, two workers on one queue, expiry. No status is lost or applied twice."""

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from tests.helpers import (
    assert_counters_match,
    make_campaign,
    postgresql_only,
    sandbox_login,
    states,
    tick,
)
from webapp import config, iqsms
from webapp.domain import (
    gateways,
    leases,
    send_calls,
    sending,
    status_appliers,
    status_poll,
    statuses,
)
from webapp.extensions import db
from webapp.jobs import dispatch as dispatch_tick
from webapp.jobs import statuses as status_ticks
from webapp.models import (
    DELIVERY_OUTCOMES,
    FAILURE_STATES,
    LIVE_STATES,
    MOVING_STATES,
    RESENDABLE_STATES,
    SETTLED_STATES,
    UNDELIVERED_STATES,
    Campaign,
    Message,
    MessageState,
    PendingStatus,
    Team,
    UsagePeriod,
    utcnow,
)

S = MessageState


def drain(app, **kwargs):
    with app.app_context():
        kwargs.setdefault("client_factory", gateways.client_factory(app.config))
        return statuses.drain_status_queues(db.session, **kwargs)


def poll(app, **kwargs):
    with app.app_context():
        kwargs.setdefault("client_factory", gateways.client_factory(app.config))
        checks = statuses.Checks.from_config(app.config)
        return status_poll.poll_statuses(db.session, checks=checks, **kwargs)


def gateway_truth(app, sandbox, team, campaign_id):
    """What status.json says of every message, straight from the sandbox."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(Message.id, Message.smsc_id).where(Message.campaign_id == campaign_id)
        ).all()
        stored = db.session.get(Team, team.id)
        client = gateways.client_for(app.config, stored)
    truth = {}
    for batch in iqsms.batches(rows, 200):
        for reply in client.status([r.smsc_id for r in batch]):
            truth[reply.smsc_id] = reply.status
    return truth


def our_statuses(app, campaign_id):
    with app.app_context():
        return dict(
            db.session.execute(
                sa.select(Message.smsc_id, Message.gateway_status).where(
                    Message.campaign_id == campaign_id
                )
            ).all()
        )


def test_the_queue_drain_brings_every_status_with_its_times(app, sandbox, sandbox_clock, team):
    campaign_id = make_campaign(app, team, 300)
    tick(app)
    assert states(app, campaign_id) == {S.ACCEPTED: 300}
    sandbox_clock.advance(1.6)  # every message reached the operator, none delivered yet
    report = drain(app)
    assert report.received == report.applied == 300
    found = states(app, campaign_id)
    assert set(found) <= {S.ENROUTE, S.FAILED} and found[S.ENROUTE] > 250
    assert_counters_match(app, campaign_id)
    sandbox_clock.advance(30)
    drain(app)
    found = states(app, campaign_id)
    assert set(found) <= {S.DELIVERED, S.FAILED} and found[S.DELIVERED] > 240
    assert_counters_match(app, campaign_id)
    assert our_statuses(app, campaign_id) == gateway_truth(app, sandbox, team, campaign_id)
    with app.app_context():
        delivered = db.session.scalars(
            sa.select(Message).where(
                Message.campaign_id == campaign_id, Message.state == S.DELIVERED
            )
        ).first()
        assert delivered.sent_at <= delivered.enroute_at <= delivered.final_at
    assert drain(app).received == 0  # the queue is empty: nothing applied twice


def test_statuses_never_move_a_message_backwards_and_apply_once(app, team):
    campaign_id = make_campaign(app, team, 2)
    now = utcnow()
    with app.app_context():
        db.session.execute(
            sa.update(Message)
            .where(Message.campaign_id == campaign_id)
            .values(state=S.ACCEPTED, smsc_id=sa.cast(Message.id, sa.String))
        )
        from webapp.domain.counters import shift

        shift(db.session, campaign_id, {S.QUEUED: -2, S.ACCEPTED: 2})
        db.session.commit()
        first, second = db.session.scalars(
            sa.select(Message.smsc_id)
            .where(Message.campaign_id == campaign_id)
            .order_by(Message.id)
        ).all()

        def apply(*pairs):
            page = [iqsms.MessageStatus(status=s, smsc_id=i) for i, s in pairs]
            result = statuses.apply_statuses(db.session, team.id, page, now)
            db.session.commit()
            return result

        # Out of order in one page: the most advanced wins.
        report = apply((first, "delivered"), (first, "queued"), (first, "smsc submit"))
        assert report.applied == 1
        # A late "queued" or "smsc submit" never undoes "delivered"; a repeat changes nothing.
        assert apply((first, "queued")).applied == 0
        assert apply((first, "smsc submit"), (first, "delivered")).applied == 0
        assert apply((second, "smsc submit")).applied == 1
        assert apply((second, "smsc submit")).applied == 0
        assert apply((second, "something new"), ("", "delivered")).ignored == 2
        assert apply((second, "delivery error")).applied == 1
    assert states(app, campaign_id) == {S.DELIVERED: 1, S.FAILED: 1}
    assert_counters_match(app, campaign_id)


@pytest.mark.parametrize(
    "one_statement",
    [False, pytest.param(True, marks=postgresql_only, id="one-statement")],
    ids=["transaction", "one-statement"],
)
def test_a_status_before_its_send_result_waits_and_is_applied(
    app, sandbox, sandbox_clock, team, one_statement
):
    """Also when the result is one statement in autocommit (PostgreSQL's sending loops): the
    statuses set aside are applied just after it."""
    campaign_id = make_campaign(app, team, 5)
    now = utcnow()
    with app.app_context():
        loaded = sending.load_sending(db.session, campaign_id)
        claimed = sending.claim_batch(db.session, loaded, now)
        client = gateways.client_for(app.config, db.session.get(Team, team.id))
        result = client.send(
            [iqsms.OutgoingMessage(str(i), p, t) for i, p, t in claimed.rows],
            status_queue_name=loaded.queue_name,
        )
    sandbox_clock.advance(30)
    report = drain(app)  # the statuses arrive while the result is not stored yet
    assert report.pending == 5 and report.applied == 0
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PendingStatus)) == 5
        first_check = timedelta(minutes=10)
        report = send_calls.DispatchReport()
        direct = None
        if one_statement:
            direct = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            send_calls.store_results(db.session, claimed, result, now, report, first_check, direct)
        finally:
            if direct is not None:
                direct.close()
        assert report.accepted == 5
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PendingStatus)) == 0
        usage = db.session.execute(
            sa.select(
                sa.func.sum(UsagePeriod.accepted),
                sa.func.sum(UsagePeriod.delivered + UsagePeriod.failed),
            ).where(UsagePeriod.campaign_id == campaign_id)
        ).one()
        assert tuple(usage) == (5, 5)  # sent, and their outcomes, counted once
    found = states(app, campaign_id)
    assert set(found) <= {S.DELIVERED, S.FAILED} and sum(found.values()) == 5
    assert_counters_match(app, campaign_id)


def test_a_status_set_aside_too_long_is_swept_in(app, team):
    campaign_id = make_campaign(app, team, 1)
    now = utcnow()
    with app.app_context():
        db.session.add(PendingStatus(team_id=team.id, smsc_id="777", status="delivered"))
        db.session.execute(
            sa.update(Message)
            .where(Message.campaign_id == campaign_id)
            .values(state=S.ACCEPTED, smsc_id="777", sent_at=now)
        )
        from webapp.domain.counters import shift

        shift(db.session, campaign_id, {S.QUEUED: -1, S.ACCEPTED: 1})
        db.session.commit()
    report = poll(app, clock=lambda: now + timedelta(minutes=1))
    assert report.swept == 1
    assert states(app, campaign_id) == {S.DELIVERED: 1}
    assert_counters_match(app, campaign_id)


def test_a_lost_queue_reply_is_recovered_by_polling(app, sandbox, sandbox_clock, team):
    campaign_id = make_campaign(app, team, 50)
    tick(app)
    sandbox_clock.advance(30)
    sandbox.set_faults(lose_reply=1.0, endpoints=["statusQueue.json"], remaining=1)
    assert drain(app).received == 0  # the reply never arrived: those statuses left the queue
    assert drain(app).received == 0
    assert states(app, campaign_id) == {S.ACCEPTED: 50}
    early = poll(app, clock=lambda: utcnow() + timedelta(minutes=5))
    assert early.checked == 0  # not yet due
    report = poll(app, clock=lambda: utcnow() + timedelta(minutes=11))
    assert report.checked == 50 and report.applied == 50
    found = states(app, campaign_id)
    assert set(found) <= {S.DELIVERED, S.FAILED}
    assert_counters_match(app, campaign_id)
    assert our_statuses(app, campaign_id) == gateway_truth(app, sandbox, team, campaign_id)


def test_polling_backs_off_per_message_and_expires_after_the_limit(app, sandbox, team):
    campaign_id = make_campaign(app, team, 3)
    tick(app)  # accepted; the sandbox clock stands still, so they stay "queued" there
    start = utcnow()
    with app.app_context():
        first_due = db.session.scalar(sa.select(sa.func.min(Message.next_check_at)))
    assert timedelta(minutes=9) < first_due - start <= timedelta(minutes=10, seconds=5)
    at = start + timedelta(minutes=11)
    assert poll(app, clock=lambda: at).checked == 3
    assert poll(app, clock=lambda: at + timedelta(minutes=5)).checked == 0  # waits 20 min now
    assert poll(app, clock=lambda: at + timedelta(minutes=21)).checked == 3
    with app.app_context():
        assert set(db.session.scalars(sa.select(Message.checks))) == {2}
    late = start + timedelta(hours=73)
    report = poll(app, clock=lambda: late)
    assert report.expired == 3
    assert states(app, campaign_id) == {S.EXPIRED: 3}
    assert_counters_match(app, campaign_id)
    # The gateway's last word still counts: a final status moves an expired message on.
    with app.app_context():
        smsc_id = db.session.scalars(sa.select(Message.smsc_id)).first()
        statuses.apply_statuses(
            db.session, team.id, [iqsms.MessageStatus("delivered", smsc_id)], late
        )
        db.session.commit()
    assert states(app, campaign_id) == {S.EXPIRED: 2, S.DELIVERED: 1}
    assert_counters_match(app, campaign_id)


def test_one_worker_drains_a_team_at_a_time(app, sandbox, sandbox_clock, team):
    with app.app_context():
        now = utcnow()
        assert leases.acquire_lease(db.session, "statuses:1", "a", now)
        assert not leases.acquire_lease(db.session, "statuses:1", "b", now)
        assert leases.acquire_lease(db.session, "statuses:2", "b", now)  # other teams go on
        assert leases.acquire_lease(db.session, "statuses:1", "a", now)  # renewal
        later = now + leases.LEASE_TTL + timedelta(seconds=1)
        assert leases.acquire_lease(db.session, "statuses:1", "b", later)  # expired
        leases.release_lease(db.session, "statuses:1", "b", later)
        assert leases.acquire_lease(db.session, "statuses:1", "c", later)


def test_two_workers_drain_one_queue_without_losing_or_doubling(app, sandbox, sandbox_clock, team):
    sandbox.control("PATCH", f"/accounts/{sandbox_login(app, team)}", json={"balance": "100000"})
    with app.app_context():
        db.session.execute(sa.update(Team).where(Team.id == team.id).values(send_rate=0))
        db.session.commit()
    campaign_id = make_campaign(app, team, 3000)
    tick(app)
    sandbox_clock.advance(60)
    reports = []

    def worker():
        with app.app_context():
            reports.append(drain(app))
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    while drain(app).received:  # whatever the budget left, drain to the end
        pass
    found = states(app, campaign_id)
    assert set(found) <= {S.DELIVERED, S.FAILED} and sum(found.values()) == 3000
    assert_counters_match(app, campaign_id)
    assert our_statuses(app, campaign_id) == gateway_truth(app, sandbox, team, campaign_id)


@pytest.fixture
def two_appliers(monkeypatch):
    """Two pages of a queue applied at once, as the environment asks, for the app made after
    this (the default is one)."""
    monkeypatch.setenv("IQSMS_STATUS_APPLIERS", "2")


def test_pages_of_one_queue_are_applied_side_by_side_on_postgresql(
    two_appliers, app, sandbox, sandbox_clock, team
):
    """With ``STATUS_APPLIERS`` at 2, the worker's tick applies two pages of one team's queue
    at once on PostgreSQL, each in a session of its own (held here until both have started);
    on SQLite one after another. Either way a message's statuses in different pages (five
    pages here) land once and never backwards."""
    sandbox.control("PATCH", f"/accounts/{sandbox_login(app, team)}", json={"balance": "100000"})
    with app.app_context():
        db.session.execute(sa.update(Team).where(Team.id == team.id).values(send_rate=0))
        db.session.commit()
        engine, dialect = db.engine, db.engine.dialect.name
    wanted = app.config["STATUS_APPLIERS"]
    assert (
        wanted == 2 and status_appliers.appliers_for(dialect, config.Defaults.STATUS_APPLIERS) == 1
    )
    side_by_side = status_appliers.appliers_for(dialect, wanted)
    assert side_by_side == (2 if dialect == "postgresql" else 1)
    campaign_id = make_campaign(app, team, 2500)
    tick(app)
    sandbox_clock.advance(60)  # most messages' "smsc submit" and final status: five pages
    both_started = threading.Barrier(side_by_side, timeout=10)
    movers: set[int] = set()

    def hold_until_both_move(_conn, _cursor, statement, _params, _context, _executemany):
        me = threading.get_ident()
        if statement.startswith("WITH page") and me not in movers:
            movers.add(me)
            both_started.wait()  # broken (and the drain failed) unless both get here

    event.listen(engine, "before_cursor_execute", hold_until_both_move)
    try:
        status_ticks.run_queue(app, wait=60)  # the worker's tick, as the scheduler runs it
    finally:
        event.remove(engine, "before_cursor_execute", hold_until_both_move)
    if dialect == "postgresql":
        assert len(movers) == 2 and threading.get_ident() not in movers
    found = states(app, campaign_id)
    assert set(found) <= {S.DELIVERED, S.FAILED} and sum(found.values()) == 2500
    assert_counters_match(app, campaign_id)
    assert our_statuses(app, campaign_id) == gateway_truth(app, sandbox, team, campaign_id)


@pytest.fixture
def status_settings(monkeypatch):
    """The status settings as the environment gives them, for the app made after this."""
    monkeypatch.setenv("IQSMS_STATUS_CHECK_AFTER_MINUTES", "2")
    monkeypatch.setenv("IQSMS_STATUS_EXPIRE_AFTER_HOURS", "1")
    monkeypatch.setenv("IQSMS_DISPATCH_THREADS", "1")


def test_the_first_status_check_follows_the_setting(status_settings, app, sandbox, team):
    assert app.config["STATUS_CHECK_AFTER_MINUTES"] == 2
    campaign_id = make_campaign(app, team, 3)
    start = utcnow()
    dispatch_tick.run(app, wait=60)  # the worker's tick, as the scheduler runs it
    assert states(app, campaign_id) == {S.ACCEPTED: 3}
    with app.app_context():
        first_due = db.session.scalar(sa.select(sa.func.min(Message.next_check_at)))
    assert timedelta(minutes=1) < first_due - start <= timedelta(minutes=2, seconds=5)
    # The poll takes them then, and waits twice the setting before the next check.
    at = start + timedelta(minutes=3)
    assert poll(app, clock=lambda: at).checked == 3
    assert poll(app, clock=lambda: at + timedelta(minutes=3)).checked == 0
    assert poll(app, clock=lambda: at + timedelta(minutes=5)).checked == 3


def test_the_status_poll_tick_expires_after_the_setting(status_settings, app, sandbox, team):
    campaign_id = make_campaign(app, team, 3)
    tick(app)
    with app.app_context():
        two_hours_ago = utcnow() - timedelta(hours=2)
        db.session.execute(sa.update(Message).values(sent_at=two_hours_ago))
        db.session.execute(sa.update(Campaign).values(started_at=two_hours_ago))
        db.session.commit()
        status_ticks.run_poll(app)  # the worker's tick, in the context the scheduler opens
    assert states(app, campaign_id) == {S.EXPIRED: 3}
    assert_counters_match(app, campaign_id)


def test_the_message_state_sets_cover_every_state_once():
    assert sorted(MOVING_STATES + SETTLED_STATES) == sorted(MessageState)
    assert set(LIVE_STATES) <= set(MOVING_STATES)
    assert set(DELIVERY_OUTCOMES + RESENDABLE_STATES + FAILURE_STATES) <= set(SETTLED_STATES)
    # Every settled message was delivered, was cancelled before sending, or is not delivered.
    assert {S.DELIVERED, S.CANCELLED, *UNDELIVERED_STATES} == set(SETTLED_STATES)
    # Statuses move exactly the messages on their way, expired ones, and delivery outcomes.
    assert set(statuses.RANK) == {*LIVE_STATES, S.EXPIRED, *DELIVERY_OUTCOMES}
