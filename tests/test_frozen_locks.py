"""A frozen process never holds locks for long (issue 14, "a frozen worker holds row locks").

On PostgreSQL the server ends a session whose transaction sits idle past
``DB_IDLE_IN_TRANSACTION_SECONDS``, and its locks with it; so no path of the app may keep a
transaction open while it waits on the gateway, or the server would end it too. A web request
waits at most ``DB_LOCK_TIMEOUT_SECONDS`` for a lock, then answers 503 in the person's
language. Real PostgreSQL, the real sandbox over HTTP; the frozen process is a real second
connection that locks a campaign's row and then sleeps.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from tests.helpers import (
    assert_counters_match,
    campaign_row,
    make_campaign,
    post_form,
    postgresql_only,
    sandbox_login,
    sign_in,
    states,
    team_of,
    tick,
)
from webapp.domain import gateways, status_poll, statuses
from webapp.extensions import db
from webapp.jobs import balance as balance_tick
from webapp.jobs import senders as sender_tick
from webapp.models import (
    LIVE_STATES,
    BalanceSnapshot,
    Campaign,
    CampaignState,
    Message,
    MessageState,
    SenderName,
    utcnow,
)

IDLE = 1  # seconds a transaction may sit idle in these tests
SLOW_MS = 2500  # each gateway call's wait in the sandbox: past IDLE, so an idle wait is ended
BOUND = 60  # seconds a test waits for work that should finish soon before it gives up

# PostgreSQL only: SQLite has no idle-in-transaction timeout and one writer at a time.


@pytest.fixture
def app(make_app, request):
    """The app with transactions left idle ended after ``IDLE`` seconds (a test may ask for
    another value through indirect parametrisation)."""
    return make_app(DB_IDLE_IN_TRANSACTION_SECONDS=getattr(request, "param", IDLE))


class FrozenProcess:
    """A real second database connection that begins a transaction, locks a campaign's row
    FOR UPDATE and then sleeps, as a process SIGSTOPped mid-transaction would; woken, it tries
    to go on, and ``ended`` says whether the server had ended its session meanwhile. Its
    connection comes from the app's engine, so it has the app's connection settings."""

    def __init__(self, app: Any, campaign_id: int) -> None:
        self.app, self.campaign_id = app, campaign_id
        self.locked, self.wake = threading.Event(), threading.Event()
        self.ended: bool | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> FrozenProcess:
        self.thread.start()
        assert self.locked.wait(BOUND)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.wake.set()
        self.thread.join(BOUND)

    def _run(self) -> None:
        with self.app.app_context(), db.engine.connect() as connection:
            connection.execute(
                sa.select(Campaign.id).where(Campaign.id == self.campaign_id).with_for_update()
            )
            self.locked.set()
            self.wake.wait()  # frozen: no statement, the transaction open
            try:
                connection.execute(sa.text("SELECT 1"))
                connection.commit()
                self.ended = False
            except DBAPIError as exc:  # psycopg: IdleInTransactionSessionTimeout
                self.ended = exc.connection_invalidated


def send_all(app: Any, campaign_id: int, in_flight: int) -> None:
    """Sending loops until every message of the campaign is accepted (a few at most)."""
    for _loop in range(5):
        tick(app, in_flight=in_flight)
        if set(states(app, campaign_id)) == {MessageState.ACCEPTED}:
            return
    raise AssertionError(states(app, campaign_id))


def in_thread(work: Any) -> threading.Thread:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


# -- the settings -------------------------------------------------------------------------------


@postgresql_only
def test_every_connection_has_the_idle_limit_and_requests_the_lock_limit(make_app, monkeypatch):
    # As an operator sets them: in the environment.
    monkeypatch.setenv("IQSMS_DB_IDLE_IN_TRANSACTION_SECONDS", "1")
    monkeypatch.setenv("IQSMS_DB_LOCK_TIMEOUT_SECONDS", "2.5")
    app = make_app()
    with app.app_context():
        assert db.session.scalar(sa.text("SHOW idle_in_transaction_session_timeout")) == "1s"
        # Outside a request (the worker) a lock is waited for as long as it takes.
        assert db.session.scalar(sa.text("SHOW lock_timeout")) == "0"
        db.session.rollback()
    with app.test_request_context("/"):
        assert db.session.scalar(sa.text("SHOW lock_timeout")) == "2500ms"
        db.session.remove()


# -- no transaction stays open across a gateway call -------------------------------------------


def test_a_slow_gateway_ends_no_session_from_send_to_the_last_status(
    app, sandbox, sandbox_clock, team
):
    """Every gateway call waits past the idle limit: a path that kept its transaction open
    meanwhile would have its session ended by the server, and its next statement would fail
    (raised here, or returned as the failure by the balance and sender ticks)."""
    one_call = make_campaign(app, team, 100)
    sandbox.set_faults(latency_ms=SLOW_MS)

    send_all(app, one_call, in_flight=1)  # the call made in the loop's own thread
    pipelined = make_campaign(app, team, 250)  # within the balance
    send_all(app, pipelined, in_flight=2)  # calls in flight in the loop's pool

    factory = gateways.client_factory(app.config)
    with app.app_context():
        # status.json about every message (each made due a check), then the queue's statuses.
        db.session.execute(sa.update(Message).values(next_check_at=utcnow() - timedelta(1)))
        db.session.commit()
        checks = statuses.Checks.from_config(app.config)
        polled = status_poll.poll_statuses(db.session, client_factory=factory, checks=checks)
        assert polled.checked == 350
        sandbox_clock.advance(3600)
        for _drain in range(5):
            if not statuses.drain_status_queues(db.session, client_factory=factory).received:
                break
        # The team's balance reading and sender names, each a slow call too.
        assert (
            balance_tick.snapshot_team(db.session, team.id, utcnow, factory, timedelta(minutes=15))
            is None
        )
        assert sender_tick.sync_team(db.session, team.id, utcnow, factory) is None
        assert db.session.scalar(
            sa.select(sa.func.count())
            .select_from(BalanceSnapshot)
            .where(BalanceSnapshot.team_id == team.id)
        )
        assert db.session.scalar(
            sa.select(sa.func.count()).select_from(SenderName).where(SenderName.team_id == team.id)
        )
    for campaign_id in (one_call, pipelined):
        assert not set(states(app, campaign_id)) & set(LIVE_STATES), states(app, campaign_id)
        assert_counters_match(app, campaign_id)
    assert len(sandbox.received(sandbox_login(app, team))) == 350


def test_pages_that_call_a_slow_gateway_end_no_session(app, sandbox, team):
    """Test connection, the balance's "refresh now" and the sender names' refresh wait for the
    gateway with no transaction open (webapp/domain/gateway_calls.py)."""
    sandbox.set_faults(latency_ms=SLOW_MS)
    browser = app.test_client()
    assert sign_in(browser, "ann@example.com").status_code == 302
    tested = post_form(browser, "/team/gateway/test", {"mode": "sandbox"})
    assert "Connected." in tested.get_data(as_text=True)
    refreshed = post_form(browser, "/balance/refresh")
    assert refreshed.status_code == 303
    assert "Balance read just now." in browser.get(refreshed.location).get_data(as_text=True)
    names = post_form(browser, "/senders/refresh", follow_redirects=True)
    assert names.status_code == 200
    with app.app_context():
        assert db.session.scalar(
            sa.select(sa.func.count()).select_from(SenderName).where(SenderName.team_id == team.id)
        )


# -- a frozen process's locks -------------------------------------------------------------------


@postgresql_only
def test_the_worker_goes_on_once_the_server_ends_a_frozen_lock(app, sandbox, team):
    campaign_id = make_campaign(app, team, 50)
    with FrozenProcess(app, campaign_id) as frozen:
        # The claim writes the campaign's row: it waits for the frozen process's lock.
        sending = in_thread(lambda: tick(app))
        sending.join(BOUND)
        assert not sending.is_alive(), "the claim still waits for the frozen process's lock"
    assert frozen.ended  # woken, it finds its session ended by the server
    assert states(app, campaign_id) == {MessageState.ACCEPTED: 50}
    assert_counters_match(app, campaign_id)


@postgresql_only
def test_a_web_request_goes_on_once_the_server_ends_a_frozen_lock(app, make_person):
    app.config["DB_LOCK_TIMEOUT_SECONDS"] = BOUND  # the idle limit ends the lock first
    person = make_person("ann@example.com")
    campaign_id = make_campaign(app, team_of(app, person), 20)
    with FrozenProcess(app, campaign_id) as frozen:
        response = post_form(person.client, f"/campaigns/{campaign_id}/pause")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert frozen.ended
    assert campaign_row(app, campaign_id).state == CampaignState.PAUSED


@postgresql_only
@pytest.mark.parametrize("app", [0], indirect=True)  # no idle limit: the lock stays
def test_a_web_request_answers_503_in_its_language_when_a_lock_is_held(app, make_person):
    app.config["DB_LOCK_TIMEOUT_SECONDS"] = 0.5
    person = make_person("ann@example.com")
    campaign_id = make_campaign(app, team_of(app, person), 20)
    with FrozenProcess(app, campaign_id) as frozen:
        english = post_form(person.client, f"/campaigns/{campaign_id}/pause")
        russian = post_form(
            person.client,
            f"/campaigns/{campaign_id}/pause",
            headers={"Accept-Language": "ru"},
        )
    assert frozen.ended is False  # it held its lock throughout, and went on when woken
    assert english.status_code == russian.status_code == 503
    assert english.headers["Retry-After"]
    assert "The database is busy. Wait a moment and try again." in english.get_data(as_text=True)
    assert "Busy for a moment" in english.get_data(as_text=True)
    assert "База данных занята" in russian.get_data(as_text=True)
    assert "Подождите минутку" in russian.get_data(as_text=True)
    assert campaign_row(app, campaign_id).state == CampaignState.SENDING
    # Once the lock is gone, the same request goes through.
    assert post_form(person.client, f"/campaigns/{campaign_id}/pause").status_code == 302
