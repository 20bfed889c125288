"""When the worker next tries a team's work: after failures in a row, a wait that doubles up to a
cap (:func:`webapp.domain.leases.backoff`, one rule for balance readings, sender-name syncs and
notification mail), however long the run of failures; and at once, at its next tick, the
sender names of a team whose gateway settings were just saved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.helpers import team_of
from webapp.domain import gateways, leases, notification_mail
from webapp.extensions import db
from webapp.jobs import balance as balance_tick
from webapp.jobs import senders as senders_tick
from webapp.models import SenderName, Team, utcnow

MINUTE = timedelta(minutes=1)
NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("failures", "minutes"), [(1, 1), (2, 2), (3, 4), (5, 10), (100, 10), (10_000, 10)]
)
def test_the_wait_doubles_from_the_first_up_to_the_cap(failures, minutes):
    assert leases.backoff(MINUTE, failures, 10 * MINUTE) == minutes * MINUTE


def test_the_three_retry_rules_are_capped_however_long_the_run_of_failures():
    names, mail = senders_tick, notification_mail
    assert leases.backoff(names.FIRST_RETRY, 10_000, names.EVERY) == timedelta(hours=1)
    assert leases.backoff(mail.MAIL_FIRST_RETRY, 10_000, mail.MAIL_MAX_WAIT) == timedelta(hours=1)
    # A cap below the first wait wins too.
    assert leases.backoff(MINUTE, 1, timedelta(seconds=30)) == timedelta(seconds=30)


def set_failures(app, team_id, **values):
    with app.app_context():
        row = db.session.get(Team, team_id)
        for name, value in values.items():
            setattr(row, name, value)
        db.session.commit()


def team_row(app, team_id):
    with app.app_context():
        return db.session.get(Team, team_id)


@pytest.mark.parametrize("failures", [41, 10_000])
def test_a_balance_reading_failing_for_days_waits_the_interval(app, sandbox, team, failures):
    """Not the two minutes of a claim that raised: the reading is retried at the cap."""
    sandbox.set_faults(error_reply=1.0, error_description="maintenance", endpoints=["balance.json"])
    set_failures(app, team.id, balance_failures=failures, balance_next_at=NOW)
    interval = timedelta(minutes=15)
    with app.app_context():
        client_for = gateways.client_factory(app.config)
        found = balance_tick.snapshot_due_teams(db.session, lambda: NOW, client_for, interval)
    assert "maintenance" in found[team.id]
    row = team_row(app, team.id)
    assert (row.balance_failures, row.balance_next_at) == (failures + 1, NOW + interval)


def test_a_sender_sync_failing_for_days_waits_an_hour(app, sandbox, team):
    sandbox.set_faults(error_reply=1.0, error_description="maintenance", endpoints=["senders.json"])
    set_failures(app, team.id, senders_failures=10_000, senders_next_at=NOW)
    with app.app_context():
        client_for = gateways.client_factory(app.config)
        found = senders_tick.sync_due_teams(db.session, lambda: NOW, client_for)
    assert "maintenance" in found[team.id]
    row = team_row(app, team.id)
    assert (row.senders_failures, row.senders_next_at) == (10_001, NOW + senders_tick.EVERY)


def test_saving_gateway_settings_makes_the_sender_names_due_at_once(app, make_person, sandbox):
    """Over HTTP: the names of the new gateway's account come at the worker's next tick, not
    an hour later (or after the back-off of the old gateway's failures)."""
    app.config.update(SANDBOX_URL=sandbox.base_url, GATEWAY_ALLOWED_HOSTS="127.0.0.1")
    ann = make_person("ann@example.com")
    team = team_of(app, ann)
    synced = utcnow()
    senders_tick.run(app, wait=60, clock=lambda: synced)  # the sandbox account's names
    assert team_row(app, team.id).senders_next_at == synced + senders_tick.EVERY
    set_failures(app, team.id, senders_failures=7)  # say its gateway had been failing since
    sandbox.control(
        "POST",
        "/accounts",
        json={"login": "acme", "password": "pw", "senders": [{"name": "AcmeShop"}]},
    )

    before = utcnow()
    saved = ann.post(
        "/team/gateway",
        {"mode": "iqsms", "login": "acme", "password": "pw", "url": sandbox.base_url},
    )
    after = utcnow()
    assert saved.status_code == 302
    row = team_row(app, team.id)
    assert before <= row.senders_next_at <= after and row.senders_failures == 0

    senders_tick.run(app, wait=60)  # the worker's next tick
    with app.app_context():
        names = db.session.scalars(select(SenderName.name).where(SenderName.team_id == team.id))
        assert list(names) == ["AcmeShop"]
    assert team_row(app, team.id).senders_failures == 0
