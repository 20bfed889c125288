"""Migrations, on SQLite and on PostgreSQL (``TEST_DATABASE_URL``): from an empty database to
a schema the models agree with and back to empty, and from the previous release's schema, with
its data, to this one and back.

The previous release is the head the last release shipped (``PREVIOUS_RELEASE``); its rows are
written with plain SQL on the tables as they were then, not with today's models.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask.testing import FlaskCliRunner

from tests.helpers import insert_old_row
from webapp.extensions import db
from webapp.models import Campaign, Message, Team, User

PREVIOUS_RELEASE = "i13_language"
WHEN = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _flask_db(runner: FlaskCliRunner, *args: str) -> None:
    result = runner.invoke(args=["db", *args])
    assert result.exit_code == 0, result.output


def _differences(app: Flask) -> list:
    """What autogenerate would still write: the database against the models."""
    with app.app_context(), db.engine.connect() as connection:
        migrate = app.extensions["migrate"]
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, **migrate.configure_args},
        )
        return compare_metadata(context, db.metadata)


def _collations(app: Flask) -> tuple[dict, dict]:
    """The columns with a collation of their own, on PostgreSQL: as the database has them, and
    as the models say (alembic's comparison leaves collations out). SQLite: none."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            return {}, {}
        found = db.session.execute(
            sa.text(
                "SELECT table_name, column_name, collation_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND collation_name IS NOT NULL"
            )
        ).all()
        wanted = {
            (table.name, column.name): collation
            for table in db.metadata.tables.values()
            for column in table.columns
            if (
                collation := getattr(column.type.dialect_impl(db.engine.dialect), "collation", None)
            )
        }
    return {(table, column): name for table, column, name in found}, wanted


def _revision(app: Flask) -> str:
    with app.app_context(), db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_upgrade_from_empty_matches_the_models_and_downgrade_empties_it(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(create_schema=False)
    runner = app.test_cli_runner()

    _flask_db(runner, "upgrade")

    assert _revision(app) == _head(app)
    assert _differences(app) == []
    _flask_db(runner, "check")  # `alembic check` as the CLI runs it: nothing left to generate
    found, wanted = _collations(app)
    assert found == wanted
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            assert wanted[("messages", "smsc_id")] == wanted[("messages", "state")] == "C"
    with app.app_context():
        tables = set(sa.inspect(db.engine).get_table_names())
        if db.engine.dialect.name == "sqlite":
            # The migration's connection is back in the pool with foreign keys on again.
            assert db.session.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
    assert set(db.metadata.tables) | {"alembic_version"} == tables

    _flask_db(runner, "downgrade", "base")
    with app.app_context():
        assert set(sa.inspect(db.engine).get_table_names()) == {"alembic_version"}


def _head(app: Flask) -> str:
    from alembic.script import ScriptDirectory

    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
    return ScriptDirectory.from_config(config).get_current_head()


def _write_previous_release_data(app: Flask) -> dict[str, int]:
    """A team with a member, a campaign part sent and its messages, as the previous release
    stored them (tables reflected as they are at that revision)."""
    with app.app_context(), db.engine.begin() as connection:
        tables = sa.MetaData()
        tables.reflect(connection, only=["memberships", "messages"])
        t = tables.tables
        user_id = insert_old_row(
            connection,
            "users",
            email="olga@example.com",
            password_hash="scrypt:not-a-real-hash",
            created_at=WHEN,
            session_token="a" * 32,
            language="ru",
        )
        team_id = insert_old_row(
            connection,
            "teams",
            name="Цветы у дома",
            created_at=WHEN,
            status_queue_name="flowers01",
            gateway_login="flowers",
            sandbox_account_ready=True,
            price_per_part=Decimal("2.5000"),
            send_rate=500,
        )
        connection.execute(
            sa.insert(t["memberships"]).values(
                team_id=team_id, user_id=user_id, role="owner", created_at=WHEN
            )
        )
        campaign_id = insert_old_row(
            connection,
            "campaigns",
            team_id=team_id,
            name="Весенняя распродажа",
            state="sending",
            text="Скидка 20% до воскресенья",
            sender="Flowers",
            price_per_part=Decimal("2.5000"),
            recipients=3,
            created_at=WHEN,
            updated_at=WHEN,
            started_at=WHEN,
            parts=1,
            cost=Decimal("2.5000"),
            queued=2,
            delivered=1,
        )
        for i, state in enumerate(("delivered", "queued", "queued")):
            connection.execute(
                sa.insert(t["messages"]).values(
                    team_id=team_id,
                    campaign_id=campaign_id,
                    phone=f"7916000000{i}",
                    text="Скидка 20% до воскресенья",
                    state=state,
                    gateway_status="delivered" if state == "delivered" else "",
                    smsc_id="smsc-1" if state == "delivered" else None,
                    parts=1 if state == "delivered" else 0,
                    cost_estimated=False,
                    checks=0,
                )
            )
    return {"user": user_id, "team": team_id, "campaign": campaign_id}


def _assert_previous_release_data(app: Flask, ids: dict[str, int]) -> None:
    """The rows written at the previous release, read through today's models."""
    with app.app_context():
        db.session.expire_all()
        user, team = db.session.get(User, ids["user"]), db.session.get(Team, ids["team"])
        assert (user.email, user.language) == ("olga@example.com", "ru")
        assert (team.name, team.status_queue_name) == ("Цветы у дома", "flowers01")
        assert [m.team_id for m in user.memberships] == [team.id]
        campaign = db.session.get(Campaign, ids["campaign"])
        assert (campaign.name, campaign.state, campaign.recipients) == (
            "Весенняя распродажа",
            "sending",
            3,
        )
        assert (campaign.queued, campaign.delivered, campaign.cost) == (2, 1, Decimal("2.5"))
        assert campaign.started_at == WHEN
        messages = db.session.scalars(
            sa.select(Message).where(Message.campaign_id == campaign.id).order_by(Message.id)
        ).all()
        assert [(m.phone, m.state, m.smsc_id) for m in messages] == [
            ("79160000000", "delivered", "smsc-1"),
            ("79160000001", "queued", None),
            ("79160000002", "queued", None),
        ]
        assert {m.text for m in messages} == {"Скидка 20% до воскресенья"}
        db.session.rollback()


def _assert_rows_at_previous_release(app: Flask, ids: dict[str, int]) -> None:
    """After a downgrade: the same rows, read as the previous release's tables hold them."""
    with app.app_context(), db.engine.connect() as connection:
        name, queued, delivered = connection.execute(
            sa.text("SELECT name, queued, delivered FROM campaigns WHERE id = :id"),
            {"id": ids["campaign"]},
        ).one()
        states = connection.execute(
            sa.text("SELECT state FROM messages WHERE campaign_id = :id ORDER BY id"),
            {"id": ids["campaign"]},
        ).scalars()
        assert (name, queued, delivered) == ("Весенняя распродажа", 2, 1)
        assert list(states) == ["delivered", "queued", "queued"]


def test_upgrade_from_the_previous_release_keeps_its_data(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(create_schema=False)
    runner = app.test_cli_runner()
    _flask_db(runner, "upgrade", PREVIOUS_RELEASE)
    assert _revision(app) == PREVIOUS_RELEASE
    ids = _write_previous_release_data(app)

    _flask_db(runner, "upgrade")

    assert _revision(app) == _head(app)
    assert _differences(app) == []
    _assert_previous_release_data(app, ids)
    with app.app_context():
        campaign = db.session.get(Campaign, ids["campaign"])
        # Columns added since start from their defaults on old rows.
        assert (campaign.claims, campaign.failure_seq, campaign.failure_claim_seq) == (0, 0, 0)
        db.session.rollback()


@pytest.mark.parametrize("then_up_again", [False, True])
def test_downgrade_to_the_previous_release_keeps_its_data(
    make_app: Callable[..., Flask], then_up_again: bool
) -> None:
    app = make_app(create_schema=False)
    runner = app.test_cli_runner()
    _flask_db(runner, "upgrade", PREVIOUS_RELEASE)
    ids = _write_previous_release_data(app)
    _flask_db(runner, "upgrade")

    _flask_db(runner, "downgrade", PREVIOUS_RELEASE)

    assert _revision(app) == PREVIOUS_RELEASE
    with app.app_context():
        tables = set(sa.inspect(db.engine).get_table_names())
    assert "gateway_call_totals" not in tables
    _assert_rows_at_previous_release(app, ids)
    if then_up_again:
        _flask_db(runner, "upgrade")
        assert _differences(app) == []
        _assert_previous_release_data(app, ids)
