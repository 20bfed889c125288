"""A slow gateway cannot stop the worker for other teams (issue 11, item 3).

One team's gateway is a real dripping HTTP server on loopback (tests/slow_server.py: it accepts,
then answers a byte a second); two teams are on the sandbox. The real scheduler runs every tick.
The two sandbox teams' campaigns finish, their statuses arrive and their balances are read in
about the time they take alone; stale claims of a dead worker are settled while the slow team's
calls hang; the slow team's campaign page says its gateway is not answering.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.helpers import make_campaign, states, team_of, text_of, tick
from tests.slow_server import dripping_server
from webapp.domain import gateways, sending
from webapp.extensions import db
from webapp.jobs.scheduler import create_scheduler
from webapp.models import BalanceSnapshot, Campaign, Message, MessageState, Team, utcnow

MESSAGES = 3000
DEADLINE = 8.0  # each call to the slow gateway ends after this; without a deadline, 150 s
LIMIT = 120.0  # no wait in this test lasts longer, whatever the code does


@pytest.fixture
def app(make_app, sandbox):
    """Sandbox teams with money for a few thousand messages; the slow gateway (on 127.0.0.1)
    allowed; gateway calls that end after ``DEADLINE``."""
    return make_app(
        SANDBOX_URL=sandbox.base_url,
        SANDBOX_STARTING_BALANCE="100000.00",
        GATEWAY_ALLOWED_HOSTS="127.0.0.1",
        GATEWAY_DEADLINE=DEADLINE,
        DISPATCH_THREADS=3,
    )


@pytest.fixture
def running_sandbox_clock(sandbox_clock):
    """The sandbox's clock runs 50 times faster than ours: messages are delivered in a second."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(0.1):
            sandbox_clock.advance(5)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield sandbox_clock
    stop.set()
    thread.join(5)


def new_team(app, person, gateway_url: str | None = None) -> int:
    """``person``'s team, sending at full speed, on the sandbox or (``gateway_url``) on an
    iQSMS API there."""
    team = team_of(app, person)
    with app.app_context():
        row = db.session.get(Team, team.id)
        row.send_rate = 0
        if gateway_url:
            gateways.use_iqsms(app.config, row, gateway_url, "slow", "slow password")
        db.session.commit()
    return team.id


def campaign(app, team_id: int, count: int = MESSAGES) -> int:
    with app.app_context():
        return make_campaign(app, db.session.get(Team, team_id), count)


def done(app, campaign_id: int) -> bool:
    """Sent, every status in (delivered or failed) and the balance read since it finished."""
    with app.app_context():
        row = db.session.get(Campaign, campaign_id)
        team = db.session.get(Team, row.team_id)
        if row.finished_at is None or row.delivered + row.failed != row.recipients:
            return False
        read_after = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(BalanceSnapshot)
            .where(
                BalanceSnapshot.team_id == row.team_id, BalanceSnapshot.taken_at >= row.finished_at
            )
        )
        return bool(read_after) and team.balance_failures == 0


def wait_until(check: Callable[[], bool], limit: float) -> float | None:
    """Seconds until ``check()`` holds, or None if it did not within ``limit``."""
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        if time.monotonic() - started >= limit:
            return None
        time.sleep(0.2)


def dead_worker_claims(app, team_id: int, count: int, stale_in: float) -> int:
    """A campaign of which a worker claimed ``count`` messages and died: they become stale
    ``stale_in`` seconds from now."""
    campaign_id = campaign(app, team_id, count)
    claimed_at = utcnow() - sending.STALE_CLAIM + timedelta(seconds=stale_in)
    with app.app_context():
        db.session.execute(
            sa.update(Message)
            .where(Message.campaign_id == campaign_id)
            .values(state=MessageState.SENDING, claimed_at=claimed_at)
        )
        db.session.execute(
            sa.update(Campaign).where(Campaign.id == campaign_id).values(queued=0, sending=count)
        )
        db.session.commit()
    return campaign_id


def test_a_dripping_gateway_does_not_hold_up_the_other_teams(
    app, sandbox, running_sandbox_clock, make_person
):
    ann = new_team(app, make_person("ann@example.com"))
    bob = new_team(app, make_person("bob@example.com"))
    scheduler = create_scheduler(app, background=True)
    with dripping_server(interval=1.0) as slow:
        scheduler.start()
        try:
            # Alone: the two sandbox teams' campaigns, start to balance read.
            alone = [campaign(app, ann), campaign(app, bob)]
            took_alone = wait_until(lambda: all(done(app, c) for c in alone), LIMIT)
            assert took_alone is not None, [states(app, c) for c in alone]

            # A team whose gateway drips starts first: its calls hang (sending, status queue,
            # balance). Then the two teams' campaigns again, and a dead worker's claims.
            sid_person = make_person("sid@example.com")
            sid = new_team(app, sid_person, slow.base_url)
            slow_campaign = campaign(app, sid, 1000)
            assert wait_until(lambda: slow.open_now >= 3, LIMIT) is not None, slow.open_now
            together = [campaign(app, ann), campaign(app, bob)]
            dead = dead_worker_claims(app, ann, 50, stale_in=3)
            started = time.monotonic()

            # The slow team's first calls time out: its campaign page says so at once.
            assert wait_until(lambda: silent_since(app, sid) is not None, LIMIT) is not None
            page = sid_person.get(f"/campaigns/{slow_campaign}").get_data(as_text=True)
            said = text_of(page, "gateway-silent")
            assert "not answer" in said and "sending resumes when it does" in said, said
            with app.app_context():  # as if two minutes had passed
                row = db.session.get(Team, sid)
                row.gateway_silent_since -= timedelta(minutes=2)
                db.session.commit()
            page = sid_person.get(f"/campaigns/{slow_campaign}").get_data(as_text=True)
            said = text_of(page, "gateway-silent")
            assert said.startswith("The gateway has not answered for 2 minutes;"), said

            # The stale-claims tick runs every 15 s; a stuck dispatch tick would take 150 s.
            settled = wait_until(lambda: states(app, dead) == {MessageState.UNKNOWN: 50}, 60)
            assert settled is not None, states(app, dead)
            assert slow.open_now >= 1  # settled while the slow team's calls hang

            # The sandbox teams' campaigns: sent, statuses in, balances read, as if alone.
            bound = 3 * took_alone + 10
            left = bound - (time.monotonic() - started)
            assert wait_until(lambda: all(done(app, c) for c in together), left) is not None, (
                took_alone,
                time.monotonic() - started,
                [states(app, c) for c in together],
            )
            # It never held more than its share: every loop while alone, then one (three teams,
            # and not answering); one status-queue drain; one balance reading; one sender-name
            # sync (it has no names yet, so the senders tick asks for them).
            assert slow.most_open <= 3 + 1 + 1 + 1
        finally:
            scheduler.shutdown(wait=False)


def silent_since(app, team_id: int):
    with app.app_context():
        return db.session.get(Team, team_id).gateway_silent_since


# -- the gateway's silence, noted and cleared ---------------------------------------------------


@pytest.fixture
def team_id(app, make_person) -> int:
    """A sandbox team's id."""
    return new_team(app, make_person("ann@example.com"))


def refused_client(app, team_id: int, port: int):
    """The team's client, pointed at a loopback port where nothing listens."""
    with app.app_context():
        client = gateways.client_for(app.config, db.session.get(Team, team_id))
    client.base_url = f"http://127.0.0.1:{port}/messages/v2/"
    return client


def silence_shown(person, campaign_id: int) -> bool:
    page = person.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    return 'data-testid="gateway-silent"' in page


def test_a_gateway_that_cannot_be_reached_is_noted_until_it_answers_again(
    app, sandbox, make_person, unused_port
):
    person = make_person("ann@example.com")
    team_id = new_team(app, person)
    campaign_id = campaign(app, team_id, 5)
    tick(app, client_factory=lambda team: refused_client(app, team.id, unused_port))
    assert states(app, campaign_id) == {MessageState.QUEUED: 5}  # never left: requeued
    assert silent_since(app, team_id) is not None
    assert silence_shown(person, campaign_id)

    later = utcnow() + timedelta(minutes=1)  # after the back-off
    tick(app, clock=lambda: later)
    assert states(app, campaign_id) == {MessageState.ACCEPTED: 5}
    with app.app_context():
        row = db.session.get(Team, team_id)
        assert row.gateway_silent_since is None and row.gateway_answered_at == later
    assert not silence_shown(person, campaign_id)


def test_a_gateway_that_answers_badly_is_not_taken_as_silent(app, sandbox, team_id):
    sandbox.set_faults(http_500=1.0, endpoints=["send.json"], remaining=1)
    campaign_id = campaign(app, team_id, 5)
    tick(app)
    assert states(app, campaign_id) == {MessageState.UNKNOWN: 5}  # it may have sent them
    assert silent_since(app, team_id) is None


def test_a_team_holds_at_most_its_share_of_a_pool_and_a_newcomer_always_gets_a_thread():
    from webapp.jobs.team_pool import TeamPool, fair_shares  # the worker's pools, alone

    assert fair_shares([1, 2], 3) == {1: 2, 2: 2}
    assert fair_shares([1, 2, 3], 3, single=[1]) == {1: 1, 2: 1, 3: 1}
    pool = TeamPool("test", 3)
    release = threading.Event()
    gave_back: list[int] = []

    def hang(slot) -> None:  # a loop waiting on its gateway, asking after each call
        while not release.wait(0.05):
            if slot.over_share():
                gave_back.append(slot.team_id)
                return

    try:
        pool.set_shares(fair_shares([1], 3))
        assert len(pool.fill([1], lambda team_id: hang)) == 3  # alone: every thread
        # Two more teams, and team 1's gateway is not answering: each newcomer gets a thread
        # at once, though team 1's three still wait; team 1 gives back all but one.
        pool.set_shares(fair_shares([1, 2, 3], 3, single=[1]))
        assert len(pool.fill([1, 2, 3], lambda team_id: hang)) == 2
        assert wait_until(lambda: gave_back == [1, 1], 10) is not None
        assert (pool.running(1), pool.running(2), pool.running(3)) == (1, 1, 1)
        assert pool.fill([1, 2, 3], lambda team_id: hang) == []  # each holds its share
    finally:
        release.set()
        pool.executor.shutdown(wait=True)
    assert pool.running() == 0


@pytest.fixture
def two_team_threads(monkeypatch):
    """``IQSMS_TEAM_THREADS=2`` for the app made after this."""
    monkeypatch.setenv("IQSMS_TEAM_THREADS", "2")


def test_the_team_by_team_jobs_run_in_pools_of_the_setting(two_team_threads, app, team_id):
    from webapp.jobs import balance as balance_tick
    from webapp.jobs import statuses as status_ticks

    campaign(app, team_id, 3)
    tick(app)
    status_ticks.run_queue(app, wait=30)
    balance_tick.run(app, wait=30)
    pools = app.extensions["iqsms_team_pools"]
    assert pools["status-queue"].size == pools["balance"].size == 2
    with app.app_context():
        assert db.session.get(Team, team_id).balance_checked_at is not None
