"""What many test modules share: signing in over the test client, the team a person owns,
campaigns made and sent through the real code paths, the composer's form and the dispatch tick,
rows written at an old revision for the migration tests.

Fixtures live in conftest.py (and gateway_fixtures.py); plain helpers live here, so that no test
module imports another and conftest is never imported as a module."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from decimal import Decimal
from html import unescape
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert

from webapp.domain import gateways, sending
from webapp.domain.statuses import Checks
from webapp.extensions import db
from webapp.iqsms import Client
from webapp.models import (
    Campaign,
    CampaignState,
    Contact,
    ContactList,
    Message,
    MessageState,
    StopListEntry,
    Team,
    utcnow,
)


def _own_schema(url: str | None) -> str | None:
    """Under pytest-xdist each worker process gets a schema of its own in the PostgreSQL test
    database (the tests empty the database before and after each test: two workers sharing it
    would empty it under each other). The URL names the schema in the connection's search
    path, so the app, Alembic and the processes a test starts (given the URL) all use it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker or not url.startswith("postgresql") or "search_path" in url:
        return url
    schema = f"test_{re.sub(r'[^a-z0-9]', '', worker.lower())}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    engine.dispose()
    url = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    os.environ["TEST_DATABASE_URL"] = url  # for what reads the environment: started servers
    return url


# The PostgreSQL database the suite runs on, or None for a SQLite file per test.
TEST_DATABASE_URL = _own_schema(os.environ.get("TEST_DATABASE_URL"))
postgresql_only = pytest.mark.skipif(not TEST_DATABASE_URL, reason="PostgreSQL only")

PASSWORD = "correct horse battery"
# The control API token of the test sandboxes (tests/gateway_fixtures.py) and of make_app's apps.
SANDBOX_CONTROL_TOKEN = "test-sandbox-control-token"


CSRF_TOKEN = re.compile(r'"X-CSRFToken": "([^"]+)"')


TEAM_IN_PATH = re.compile(r"/teams/\d+(?=/)")


def without_team(text: str) -> str:
    """``text`` (a URL, a page) with the team the app's links name (``/teams/<id>/...``) taken
    out: for tests about what a link points to within the team, not which team it names."""
    return TEAM_IN_PATH.sub("", text)


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token of ``client``'s session, read from a page as a browser would."""
    html = client.get(path, follow_redirects=True).get_data(as_text=True)
    match = CSRF_TOKEN.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def post_form(client: FlaskClient, path: str, data: dict | None = None, **kwargs: Any):
    """POST a form with the session's CSRF token, as the page's form would."""
    return client.post(path, data={"csrf_token": csrf_token(client), **(data or {})}, **kwargs)


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD, **extra: Any):
    return post_form(client, "/login", {"email": email, "password": password, **extra})


@dataclass
class Person:
    """A user with their own signed-in test client."""

    user_id: int
    email: str
    client: FlaskClient

    def post(self, path: str, data: dict | None = None, **kwargs: Any):
        return post_form(self.client, path, data, **kwargs)

    def get(self, path: str, **kwargs: Any):
        return self.client.get(path, **kwargs)


def team_of(app: Flask, person: Person):
    """The team ``person`` is working in (their last team)."""
    from webapp.models import Team, User

    with app.app_context():
        user = db.session.get(User, person.user_id)
        return db.session.get(Team, user.last_team_id)


def make_campaign(app, team, count, *, text="Hello {n}", phones=None, sender="MyBrand", **extra):
    """A sending campaign with ``count`` queued messages, made in bulk."""
    with app.app_context():
        campaign = Campaign(
            team_id=team.id,
            name="Test",
            state=extra.pop("state", CampaignState.SENDING),
            text=text,
            sender=sender,
            price_per_part=Decimal("2.50"),
            recipients=count,
            queued=count,
            started_at=utcnow(),
            **extra,
        )
        db.session.add(campaign)
        db.session.flush()
        phones = phones or [f"7916{i:07d}" for i in range(count)]
        db.session.execute(
            sa.insert(Message),
            [
                {
                    "team_id": team.id,
                    "campaign_id": campaign.id,
                    "phone": phone,
                    "text": text.replace("{n}", str(i)),
                }
                for i, phone in enumerate(phones)
            ],
        )
        db.session.commit()
        return campaign.id


def tick(app, **kwargs):
    with app.app_context():
        kwargs.setdefault("client_factory", gateways.client_factory(app.config))
        checks = Checks.from_config(app.config)
        return sending.dispatch_due_messages(db.session, checks=checks, **kwargs)


def states(app, campaign_id):
    with app.app_context():
        rows = db.session.execute(
            sa.select(Message.state, sa.func.count())
            .where(Message.campaign_id == campaign_id)
            .group_by(Message.state)
        )
        return dict(rows.all())


def campaign_row(app, campaign_id):
    with app.app_context():
        return db.session.get(Campaign, campaign_id)


def assert_counters_match(app, campaign_id):
    """The maintained counters equal a real count of the messages."""
    campaign = campaign_row(app, campaign_id)
    counted = states(app, campaign_id)
    for state in MessageState:
        assert getattr(campaign, state) == counted.get(state, 0), state


def sandbox_login(app, team):
    with app.app_context():
        return db.session.get(Team, team.id).gateway_login


def received_client_ids(sandbox, login):
    return [m["clientId"] for m in sandbox.received(login)]


def refused_client_factory(app, team, port):
    """A client factory for the team's login and password at a gateway that is down: ``port``
    on loopback, where nothing listens, so every call's connection is refused."""
    with app.app_context():
        stored = db.session.get(Team, team.id)
        login = stored.gateway_login
        password = gateways.decrypt_secret(app.config, stored.gateway_password_encrypted)
    url = f"http://127.0.0.1:{port}/messages/v2/"
    return lambda _team: Client(login, password, url)


HX = {"HX-Request": "true"}


def add_list(app, team_id, name, contacts, fields=("name",)):
    """A contact list of (phone, fields) pairs; returns its id."""
    with app.app_context():
        row = ContactList(team_id=team_id, name=name, field_names=list(fields))
        db.session.add(row)
        db.session.flush()
        if contacts:
            db.session.execute(
                insert(Contact),
                [
                    {"team_id": team_id, "list_id": row.id, "phone": p, "fields": f}
                    for p, f in contacts
                ],
            )
        db.session.commit()
        return row.id


def stop(app, team_id, *phones):
    with app.app_context():
        db.session.add_all(StopListEntry(team_id=team_id, phone=p) for p in phones)
        db.session.commit()


def sync_senders(app: Flask, team_id: int) -> None:
    """Fetch a team's sender names as the worker's senders tick does, when it never has
    (opening the composer no longer fetches them)."""
    from webapp.domain import senders

    with app.app_context():
        if not senders.ever_synced(db.session, team_id):
            team = db.session.get(Team, team_id)
            senders.sync_now(db.session, app.config, team, 5.0)
            db.session.commit()


def new_draft(person) -> int:
    sync_senders(person.client.application, team_of(person.client.application, person).id)
    response = person.post("/campaigns/new")
    assert response.status_code == 302, response.text
    match = re.search(r"/campaigns/(\d+)/edit$", response.headers["Location"])
    assert match
    assert person.get(response.headers["Location"]).status_code == 200  # as a browser would
    return int(match.group(1))


def form(**values):
    data = {
        "name": "Spring sale",
        "text": "Hello",
        "sender": "MyBrand",
        "when": "now",
        "pasted_numbers": "",
    }
    data.update(values)
    return data


def preview(person, campaign_id, **values):
    response = person.post(f"/campaigns/{campaign_id}/preview", form(**values), headers=HX)
    assert response.status_code == 200, response.text
    return response.text


def hidden(html: str, name: str) -> str:
    """The value of the page's input ``name`` (a hidden one, usually)."""
    match = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
    assert match, f"no {name} on the page"
    value = re.search(r'value="([^"]*)"', match.group(0))
    return unescape(value.group(1)) if value else ""


def oob_version(html: str) -> str | None:
    """The composer's version an htmx answer moves on out of band (a save), or None."""
    match = re.search(r'<input[^>]*hx-swap-oob="true"[^>]*>', html)
    return hidden(match.group(0), "version") if match else None


def text_of(html: str, testid: str) -> str:
    match = re.search(rf'<(\w+)[^>]*data-testid="{testid}"[^>]*>(.*?)</\1>', html, re.S)
    assert match, f"no {testid} in {html[:3000]}"
    return " ".join(unescape(re.sub(r"<[^>]+>", "", match.group(2))).split())


def load(app, campaign_id) -> Campaign:
    with app.app_context():
        return db.session.get(Campaign, campaign_id)


def english_time(when, zone=None, *, seconds: bool = False, day: bool = False) -> str:
    """A time as an English page writes it (webapp/formatting.py), in ``zone`` if given:
    ``1 Dec 2026, 14:30``, ``1 Dec 2026, 14:30:05`` with seconds, ``1 Dec 2026`` for a day
    (``when`` a date or a datetime)."""
    local = when.astimezone(zone) if zone is not None else when
    shown = f"{local.day} {local:%b %Y}"
    if day:
        return shown
    return f"{shown}, {local:%H:%M:%S}" if seconds else f"{shown}, {local:%H:%M}"


# -- rows written at an old revision, for the migration tests ------------------------------------

# Plain values for the columns each table requires at every revision a migration test writes at
# (the oldest: 30c79771aad7, tests/test_usage.py), unless the test gives its own.
OLD_COUNTERS = ("queued", "sending", "accepted", "enroute", "delivered", "failed", "rejected",
                "unknown", "expired", "cancelled")  # fmt: skip
OLD_ROW_VALUES: dict[str, dict[str, Any]] = {
    "teams": {
        "gateway_mode": "sandbox",
        "gateway_url": "https://api.iqsms.ru/messages/v2/",
        "gateway_login": "",
        "sandbox_account_ready": False,
        "phone_region": "RU",
        "timezone": "Europe/Moscow",
        "price_per_part": Decimal("2.50"),
        "send_rate": 0,
        "send_allowance": 0.0,
    },
    "campaigns": {
        "text": "",
        "flash": False,
        "list_ids": [],
        "pasted_numbers": "",
        "pause_reason": "",
        "failed_attempts": 0,
        "price_per_part": 0,
        "recipients": 0,
        "parts": 0,
        "cost": 0,
        **dict.fromkeys(OLD_COUNTERS, 0),
    },
}


def insert_old_row(connection: sa.Connection, table: str, **values: Any) -> int:
    """Write a row of ``table`` as the database's current revision has it (the table reflected,
    not today's model, which has columns added since), the columns it requires given plain
    values (:data:`OLD_ROW_VALUES`) unless ``values`` has them; the row's id."""
    reflected = sa.Table(table, sa.MetaData(), autoload_with=connection)
    row = {**OLD_ROW_VALUES.get(table, {}), **values}
    return connection.execute(
        reflected.insert().values(**row).returning(reflected.c.id)
    ).scalar_one()
