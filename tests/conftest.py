"""Shared fixtures: an app on a fresh database per test, its test client and CLI runner.

The database is a SQLite file in the test's temporary directory, or the PostgreSQL database named
by ``TEST_DATABASE_URL``, emptied before and after each test (rows deleted when it holds just
the models' tables, else everything dropped).
"""

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from tests.helpers import (
    PASSWORD,
    SANDBOX_CONTROL_TOKEN,
    TEST_DATABASE_URL,
    Person,
    sign_in,
    team_of,
)
from webapp.app import create_app
from webapp.extensions import db

pytest_plugins = ["tests.gateway_fixtures", "tests.mail_fixtures"]


# Settings from the developer's shell must not leak into tests.
_APP_ENV_VARS = ("DATABASE_URL", "SECRET_KEY")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Remove app settings from the environment and point the instance folder at a temp dir."""
    for name in list(os.environ):
        if name in _APP_ENV_VARS or name.startswith(("IQSMS_", "FLASK_")):
            monkeypatch.delenv(name)
    instance = tmp_path / "instance"
    monkeypatch.setenv("IQSMS_INSTANCE_PATH", str(instance))
    return instance


def _drop_everything(app: Flask) -> None:
    # Reflect rather than use the models' metadata, so alembic_version and tables left by an
    # interrupted run go too.
    with app.app_context(), db.engine.begin() as connection:
        metadata = sa.MetaData()
        metadata.reflect(connection)
        metadata.drop_all(connection)


# The tables of the current schema and their column counts, as the catalog has them.
_TABLES_NOW = sa.text(
    "SELECT c.relname, count(a.attnum) FROM pg_class c"
    " JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()"
    " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
    " WHERE c.relkind IN ('r', 'p') GROUP BY c.relname"
)
_RESTART_SEQUENCES = sa.text(
    "SELECT setval(format('%I.%I', schemaname, sequencename), 1, false)"
    " FROM pg_sequences WHERE schemaname = current_schema()"
)


def _empty_postgresql(app: Flask) -> bool:
    """Empty the PostgreSQL test schema in place when it holds exactly the models' tables (rows
    deleted, id sequences restarted: as fresh as a new schema, in a fiftieth of the time of
    dropping and creating it); False, touching nothing, when it holds anything else (a
    migration's alembic_version, tables of an older revision, none at all)."""
    wanted = {table.name: len(table.columns) for table in db.metadata.sorted_tables}
    with app.app_context(), db.engine.begin() as connection:
        if connection.dialect.name != "postgresql":  # a test's app on a database of its own
            return False
        if dict(connection.execute(_TABLES_NOW).all()) != wanted:
            return False
        for table in reversed(db.metadata.sorted_tables):
            connection.execute(table.delete())
        connection.execute(_RESTART_SEQUENCES)
    return True


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build apps on the test database: ``make_app(create_schema=False, KEY=value, ...)``.

    ``create_schema=False`` leaves the database empty, for tests that run migrations;
    ``from_environment=("SANDBOX_URL", ...)`` drops the test's own value of those settings, so
    that the environment's (or the built-in default) is used.
    """
    apps: list[Flask] = []

    def factory(
        *, create_schema: bool = True, from_environment: tuple[str, ...] = (), **config: Any
    ) -> Flask:
        settings = {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "SQLALCHEMY_DATABASE_URI": TEST_DATABASE_URL
            or f"sqlite:///{tmp_path / 'test.sqlite3'}",
            # Nothing listens on port 9: sandbox provisioning fails fast unless a test points
            # SANDBOX_URL at a running sandbox (the ``sandbox`` fixture).
            "SANDBOX_URL": "http://127.0.0.1:9/messages/v2/",
            # What the ``sandbox`` fixture's control API takes (tests/gateway_fixtures.py).
            "SANDBOX_CONTROL_TOKEN": SANDBOX_CONTROL_TOKEN,
            # Tests call the gateway again at once; the cooldown's own tests set it.
            "GATEWAY_INTERACTIVE_COOLDOWN": 0,
            **config,
        }
        app = create_app({k: v for k, v in settings.items() if k not in from_environment})
        apps.append(app)
        emptied = bool(TEST_DATABASE_URL) and create_schema and _empty_postgresql(app)
        if TEST_DATABASE_URL and not emptied:
            _drop_everything(app)
        if create_schema and not emptied:
            with app.app_context():
                db.create_all()
        return app

    yield factory

    for app in apps:
        if TEST_DATABASE_URL and not _empty_postgresql(app):
            _drop_everything(app)
        with app.app_context():
            db.session.remove()
            # Close pooled connections, so no test leaves an open SQLite file or PG session.
            db.engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The application with its tables created; CSRF protection stays on."""
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client for ``app``."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """A CLI runner for ``app``'s ``flask`` commands."""
    return app.test_cli_runner()


# -- people and teams ---------------------------------------------------------------------------


@pytest.fixture
def make_person(app: Flask) -> Callable[..., Person]:
    """``make_person(email, team=None, role="owner")``: a user, signed in on a client of their
    own, owner of a new team named after them or member of ``team`` (a Team id) with ``role``."""
    from webapp.domain import accounts, teams
    from webapp.models import Membership, Team

    def factory(email: str, team: int | None = None, role: str = "owner") -> Person:
        with app.app_context():
            user = accounts.create_user(db.session, email, PASSWORD)
            if team is None:
                teams.create_team(
                    db.session, app.config, f"{email.split('@')[0].title()} Team", user
                )
            else:
                db.session.add(Membership(team=db.session.get(Team, team), user=user, role=role))
                user.last_team_id = team
            db.session.commit()
            user_id = user.id
        client = app.test_client()
        response = sign_in(client, email)
        assert response.status_code == 302, response.get_data(as_text=True)
        return Person(user_id, email, client)

    return factory


@pytest.fixture
def team(app: Flask, sandbox: Any, make_person: Callable[..., Person]):
    """A team on the ``sandbox`` fixture with its own account (1,000.00 RUB at 2.50 a part)."""
    app.config["SANDBOX_URL"] = sandbox.base_url
    person = make_person("ann@example.com")
    found = team_of(app, person)
    assert found.sandbox_account_ready
    return found
