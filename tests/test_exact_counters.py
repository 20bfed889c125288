"""Counters and usage move by the messages a statement really changed, never by what was read
or sent before it: a send reply that lands after its claim was settled ``unknown`` (a frozen
worker), and two workers sweeping the same pending statuses at once, each count once.

Real parts throughout: the sandbox over HTTP (behind a real HTTP relay that holds the reply
back), real threads on the test database (a SQLite file in WAL mode, or PostgreSQL)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import requests
import sqlalchemy as sa
from sqlalchemy import event
from werkzeug.wrappers import Response

from tests.canned_server import canned_server
from tests.fleet import wait_until
from tests.helpers import (
    assert_counters_match,
    campaign_row,
    make_campaign,
    postgresql_only,
    sandbox_login,
    states,
    tick,
)
from webapp import iqsms
from webapp.domain import (
    gateways,
    send_calls,
    send_results,
    sending,
    status_appliers,
    statuses,
    usage,
)
from webapp.domain.counters import shift
from webapp.extensions import db
from webapp.models import CampaignState, Message, MessageState, PendingStatus, Team, utcnow

S = MessageState
WAIT = 60  # seconds: generous, for a loaded machine; conditions end the waits long before


def usage_of(app, team_id) -> usage.Totals:
    now = utcnow()
    with app.app_context():
        return usage.totals(db.session, team_id, now - timedelta(days=1), now + timedelta(days=1))


def settle_stale(app) -> int:
    """The stale-claim tick, as if every claim were past the limit."""
    with app.app_context():
        return sending.settle_stale_claims(db.session, utcnow(), older_than=timedelta(0))


def test_a_reply_that_lands_after_its_claim_was_settled_moves_no_counter(app, sandbox, team):
    campaign_id = make_campaign(app, team, 50)
    relayed, release = threading.Event(), threading.Event()

    def late_reply(request):
        """The sandbox's real answer, held back until the claim was settled: what a worker
        frozen by SIGSTOP (or a reply slower than the claim limit) delivers."""
        answer = requests.post(
            sandbox.root + request.path,
            data=request.get_data(),
            headers={"Content-Type": request.content_type},
            timeout=WAIT,
        )
        relayed.set()
        release.wait(WAIT)
        return Response(answer.content, answer.status_code, content_type="application/json")

    with canned_server(late_reply) as relay:
        app.config["SANDBOX_URL"] = relay.base_url
        worker = threading.Thread(target=tick, args=(app,))
        worker.start()
        try:
            assert relayed.wait(WAIT), "the batch never reached the gateway"
            assert settle_stale(app) == 50
        finally:
            release.set()
            worker.join(WAIT)
    assert not worker.is_alive()
    assert [path for path, _body in relay.received] == ["/messages/v2/send.json"]
    assert len(sandbox.received(sandbox_login(app, team))) == 50  # the gateway did take them
    # They stay unknown (never resent); the late reply moved no counter and no usage figure.
    assert states(app, campaign_id) == {S.UNKNOWN: 50}
    assert_counters_match(app, campaign_id)
    assert campaign_row(app, campaign_id).state == CampaignState.FINISHED
    spent = usage_of(app, team.id)
    assert (spent.accepted, spent.rejected, spent.parts, spent.cost) == (0, 0, 0, 0)
    with app.app_context():
        assert team.id not in statuses.active_team_ids(db.session)  # its queue is left alone


def test_only_the_messages_still_sending_take_their_results(app, sandbox, team):
    # Two numbers the gateway refuses, eight it takes.
    phones = [f"7916{i:07d}" for i in range(8)] + ["12345", "67890"]
    campaign_id = make_campaign(app, team, 10, phones=phones)
    with app.app_context():
        loaded = sending.load_sending(db.session, campaign_id)
        claimed = sending.claim_batch(db.session, loaded, utcnow())
        client = gateways.client_for(app.config, db.session.get(Team, team.id))
        result = client.send(
            [iqsms.OutgoingMessage(str(i), phone, text) for i, phone, text in claimed.rows],
            status_queue_name=loaded.queue_name,
        )
        # Meanwhile three taken and one refused were settled unknown (their claims looked
        # stale: the worker was frozen).
        late = [claimed.rows[0][0], claimed.rows[1][0], claimed.rows[2][0], claimed.rows[9][0]]
        long_ago = utcnow() - timedelta(hours=1)
        db.session.execute(
            sa.update(Message).where(Message.id.in_(late)).values(claimed_at=long_ago)
        )
        db.session.commit()
        assert sending.settle_stale_claims(db.session, utcnow()) == 4
        report = send_calls.DispatchReport()
        send_calls.store_results(
            db.session, claimed, result, utcnow(), report, timedelta(minutes=10)
        )
    assert (report.accepted, report.rejected) == (5, 1)
    assert states(app, campaign_id) == {S.ACCEPTED: 5, S.REJECTED: 1, S.UNKNOWN: 4}
    assert_counters_match(app, campaign_id)
    campaign = campaign_row(app, campaign_id)
    spent = usage_of(app, team.id)
    assert (spent.accepted, spent.rejected, spent.parts) == (5, 1, 5)
    assert campaign.parts == 5 and campaign.cost == spent.cost == 5 * campaign.price_per_part


@postgresql_only
def test_a_batch_result_finds_its_messages_by_id_whatever_the_statistics_say(app, team):
    # Statistics taken while a campaign's messages were all queued know of none sending;
    # thousands have been claimed since. The batch's rows are found by id (or, in a table
    # this small, by one scan), not by going through every claimed message for each of them.
    campaign_id = make_campaign(app, team, 5000)
    with app.app_context():
        db.session.execute(sa.text("ANALYZE messages"))
        db.session.execute(
            sa.update(Message).where(Message.campaign_id == campaign_id).values(state=S.SENDING)
        )
        db.session.commit()
        ids = db.session.scalars(
            sa.select(Message.id).where(Message.campaign_id == campaign_id).limit(200)
        ).all()
        now = utcnow()
        values = {"ids": ids, "smsc": [str(i) for i in ids], "parts": [1] * len(ids)}
        values |= {"costs": [Decimal("1.5")] * len(ids), "estimated": [False] * len(ids)}
        explain = "EXPLAIN " + send_results.POSTGRESQL_ACCEPTED_UPDATE
        plan = "\n".join(
            db.session.connection()
            .exec_driver_sql(explain, values | {"now": now, "check_at": now})
            .scalars()
        )
        db.session.rollback()
    assert "ix_messages_campaign_state_id" not in plan, plan
    assert "Join Filter" not in plan, plan  # a pass over the batch for each message


def accepted_messages(app, team, count) -> tuple[int, list[str]]:
    """A campaign of ``count`` accepted messages (smsc_id = id): its id and their smsc_ids."""
    campaign_id = make_campaign(app, team, count)
    with app.app_context():
        db.session.execute(
            sa.update(Message)
            .where(Message.campaign_id == campaign_id)
            .values(state=S.ACCEPTED, smsc_id=sa.cast(Message.id, sa.String), sent_at=utcnow())
        )
        shift(db.session, campaign_id, {S.QUEUED: -count, S.ACCEPTED: count})
        db.session.commit()
        smsc_ids = db.session.scalars(
            sa.select(Message.smsc_id).where(Message.campaign_id == campaign_id)
        ).all()
    return campaign_id, smsc_ids


def side_by_side(app, *work: Callable[[], object]) -> list[object]:
    """Run each of ``work`` in its own thread and app context at once, the threads held just
    before their first write to messages until all have got there: each has read what it
    will apply before any writes (where a database lets reads overlap). Their results."""
    with app.app_context():
        engine = db.engine
    all_read = threading.Barrier(len(work), timeout=WAIT)
    waited: set[int] = set()

    def wait_for_the_others(_conn, _cursor, statement, _params, _context, _executemany):
        me = threading.get_ident()
        if "UPDATE messages" in statement and me not in waited:
            waited.add(me)
            all_read.wait()

    results, errors = [], []

    def run(job):
        try:
            with app.app_context():
                results.append(job())
        except Exception as exc:  # reported below, with the thread's own error
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in work]
    event.listen(engine, "before_cursor_execute", wait_for_the_others)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
    finally:
        event.remove(engine, "before_cursor_execute", wait_for_the_others)
    assert not errors, errors
    assert len(waited) == len(work)  # they did overlap
    return results


def test_two_workers_sweeping_the_same_pending_statuses_count_them_once(app, team):
    count = 1000
    campaign_id, smsc_ids = accepted_messages(app, team, count)
    now = utcnow()
    with app.app_context():
        # Their statuses came before their results, and have waited a while.
        waiting = now - timedelta(minutes=5)
        db.session.execute(
            sa.insert(PendingStatus),
            [
                {"team_id": team.id, "smsc_id": i, "status": "delivered", "received_at": waiting}
                for i in smsc_ids
            ],
        )
        db.session.commit()

    def sweep():
        return statuses.sweep_pending(db.session, now + timedelta(minutes=1), timedelta(days=1))

    assert sorted(side_by_side(app, sweep, sweep)) == [0, count]
    assert states(app, campaign_id) == {S.DELIVERED: count}
    assert_counters_match(app, campaign_id)
    assert usage_of(app, team.id).delivered == count
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PendingStatus)) == 0


def test_two_workers_moving_the_same_messages_at_once_lose_no_status(app, team):
    """One applies "smsc submit", the other "delivered", both having read the messages
    accepted: whichever writes second still moves them on (never back), counted once."""
    count = 500
    campaign_id, smsc_ids = accepted_messages(app, team, count)

    def apply(status):
        def job():
            page = [iqsms.MessageStatus(status, smsc_id) for smsc_id in smsc_ids]
            report = statuses.apply_statuses(db.session, team.id, page, utcnow())
            db.session.commit()
            return report.applied

        return job

    applied = side_by_side(app, apply("smsc submit"), apply("delivered"))
    assert sorted(applied) in ([0, count], [count, count])  # enroute first, or delivered first
    assert states(app, campaign_id) == {S.DELIVERED: count}
    assert_counters_match(app, campaign_id)
    assert usage_of(app, team.id).delivered == count


@postgresql_only
def test_a_page_the_server_turns_away_as_deadlocked_is_applied_again(app, team):
    """Another transaction holds one of the page's messages and then waits for one the page
    holds: the server breaks the circle by ending the page's transaction, which is applied
    again once the other commits (webapp/domain/status_appliers.py), and counted once."""
    campaign_id, smsc_ids = accepted_messages(app, team, 2)
    first, second = sorted(smsc_ids)
    with app.app_context():
        engine = db.engine
    tries: list[int] = []

    def apply_page(own, page):
        tries.append(len(tries) + 1)
        report = statuses.apply_statuses(own, team.id, page, utcnow())
        own.commit()
        return report

    page = [iqsms.MessageStatus("delivered", smsc_id) for smsc_id in (first, second)]
    reports = []
    with engine.connect() as other:
        other.execute(  # holds the page's second message
            sa.update(Message).where(Message.smsc_id == second).values(updated_at=utcnow())
        )

        def drain_page():
            with app.app_context():
                with status_appliers.Appliers(db.session, apply_page, reports.append) as pages:
                    pages.apply(page)
                db.session.remove()

        applier = threading.Thread(target=drain_page)
        applier.start()
        wait_until(lambda: _waiting_for_a_lock(engine), "the page to wait for its lock", WAIT)
        time.sleep(0.3)  # the page's wait is the older: the server's check ends its transaction
        other.execute(  # now waits for the first message, which the page holds
            sa.update(Message).where(Message.smsc_id == first).values(updated_at=utcnow())
        )
        other.commit()
        applier.join(WAIT)
    assert tries == [1, 2] and [r.applied for r in reports] == [2]
    assert states(app, campaign_id) == {S.DELIVERED: 2}
    assert_counters_match(app, campaign_id)
    assert usage_of(app, team.id).delivered == 2


def _waiting_for_a_lock(engine) -> bool:
    with engine.connect() as watcher:
        return bool(
            watcher.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND query LIKE 'WITH page%'"
                )
            )
        )
