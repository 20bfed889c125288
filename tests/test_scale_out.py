"""Scale-out, as production runs it: gunicorn with three workers and three `flask worker`
processes against one PostgreSQL database and one standalone sandbox, over real HTTP. Three
teams sign up and send campaigns at once through the web app's pages; the sandbox's own record
then shows every message sent exactly once and every status applied, the counters equal to a
real count, and the jobs due once per interval (balance snapshots, sender sync) run once, not
once per worker.

PostgreSQL only: several workers share a database there in production (on SQLite the single
writer serialises them, and production has one worker).
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from tests.fleet import Fleet, Person, phones, wait_until
from tests.fleet_audit import audit
from tests.helpers import TEST_DATABASE_URL
from webapp.extensions import db
from webapp.models import MOVING_STATES, BalanceSnapshot, Campaign, Message, SenderName, Team

pytestmark = pytest.mark.skipif(
    not (TEST_DATABASE_URL or "").startswith("postgresql"),
    reason="several workers share one database on PostgreSQL only (TEST_DATABASE_URL)",
)

TEAMS, CAMPAIGNS, SIZE = 3, 2, 1500


def _count(app, query) -> int:
    with app.app_context():
        try:
            return db.session.scalar(query)
        finally:
            db.session.remove()


def _ready(app, team_ids: list[int]) -> bool:
    """Every team has its sender names and a balance reading, from the workers."""
    for model in (SenderName, BalanceSnapshot):
        teams = sa.select(sa.func.count(sa.distinct(model.team_id))).where(
            model.team_id.in_(team_ids)
        )
        if _count(app, teams) < len(team_ids):
            return False
    return True


def _settled(app, campaign_ids: list[int]) -> bool:
    campaigns = sa.select(sa.func.count()).where(
        Campaign.id.in_(campaign_ids), Campaign.state != "finished"
    )
    moving = sa.select(sa.func.count()).where(
        Message.campaign_id.in_(campaign_ids), Message.state.in_(MOVING_STATES)
    )
    return _count(app, campaigns) == 0 and _count(app, moving) == 0


def _readings(app) -> Counter:
    """Balance readings per team: the snapshot rows of one balance.json call share their
    ``taken_at``."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(BalanceSnapshot.team_id, BalanceSnapshot.taken_at).distinct()
        ).all()
        db.session.remove()
    return Counter(team_id for team_id, _ in rows)


# Four processes starting, 9,000 messages and their statuses, on a loaded 2-core machine.
@pytest.mark.timeout(600)
def test_three_web_and_three_workers_send_every_message_once(app, tmp_path):
    fleet = Fleet(tmp_path, app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        fleet.start_sandbox("--submit-delay", "0.5", "--deliver-delay", "1.5", "--seed", "14")
        fleet.start_web(processes=3)
        people = [Person(fleet.web_root) for _ in range(TEAMS)]
        team_ids = [
            person.sign_up(f"owner{n}@example.com", f"Scale {n}") for n, person in enumerate(people)
        ]
        with app.app_context():
            logins = {t.id: t.gateway_login for t in db.session.scalars(sa.select(Team))}
            db.session.remove()
        for team_id in team_ids:  # enough for every campaign (a new account has 1,000 RUB)
            fleet.control("PATCH", f"/accounts/{logins[team_id]}", json={"balance": "100000"})

        fleet.start_workers(3)
        wait_until(lambda: _ready(app, team_ids), "sender names and balances", 120)

        def send(n: int) -> list[int]:
            return [
                people[n].send_campaign(
                    team_ids[n], f"Sale {c}", f"Team {n}, sale {c}: 10% off", phones(n, c, SIZE)
                )
                for c in range(CAMPAIGNS)
            ]

        with ThreadPoolExecutor(TEAMS) as pool:  # the teams compose and send at the same time
            campaign_ids = [cid for sent in pool.map(send, range(TEAMS)) for cid in sent]
        wait_until(lambda: _settled(app, campaign_ids), "every campaign to finish", 240, 0.5)

        found = audit(app, {login: fleet.received(login) for login in logins.values()})
        readings, balance_calls = _readings(app), fleet.calls("balance.json")
        sender_calls = fleet.calls("senders.json")
    finally:
        codes = fleet.close()
    print(found.summary())
    assert found.failures() == [], (found.summary(), fleet.logs())
    assert found.created == TEAMS * CAMPAIGNS * SIZE
    assert found.sent_once == found.created  # no message twice, none missing
    assert found.statuses_applied == found.created  # every delivery outcome shown

    # Due once per interval, whatever the number of workers: every balance.json call made one
    # reading, and there was one at start and at most one after each campaign ended (a page
    # may ask for one more, once a reading is a minute old); sender names once an hour.
    for team_id in team_ids:
        assert balance_calls.get(logins[team_id]) == readings[team_id], (readings, balance_calls)
        assert 1 <= readings[team_id] <= 2 + CAMPAIGNS, readings
    assert {t: sender_calls.get(logins[t]) for t in team_ids} == dict.fromkeys(team_ids, 1)
    # SIGTERM stops every process cleanly (one still running 20 s later is SIGKILLed: -9).
    assert codes == dict.fromkeys(codes, 0), (codes, fleet.logs())
