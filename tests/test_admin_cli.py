"""The operators' commands: ``flask users create`` and ``flask teams create / set-gateway /
list``, run through Flask's CLI runner on the test database, with the sandbox gateway on real
HTTP where a team's sandbox account is made."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from tests.gateway_fixtures import SandboxServer
from tests.helpers import PASSWORD, sign_in
from webapp.domain.gateways import decrypt_secret
from webapp.extensions import db
from webapp.iqsms import AuthorizationError
from webapp.models import AuditEvent, GatewayMode, Membership, Role, Team, User

UNREACHABLE_SANDBOX = "http://127.0.0.1:9/messages/v2/"  # tests/conftest.py's default
QUEUE_NAME = re.compile(r"^[0-9a-zA-Z]{3,16}$")
IQSMS_URL = "https://gateway.example.com/messages/v2/"


def create_user(runner: FlaskCliRunner, email: str, password: str = PASSWORD):
    return runner.invoke(args=["users", "create", email, "--password", password])


def create_team(runner: FlaskCliRunner, name: str, owner: str):
    return runner.invoke(args=["teams", "create", name, "--owner", owner])


def team_named(app: Flask, name: str) -> Team:
    """The team called ``name``, read fresh from the database (detached, attributes loaded)."""
    with app.app_context():
        team = db.session.scalars(select(Team).where(Team.name == name)).one()
        db.session.expunge(team)
        return team


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def raw_password_column(app: Flask, team_id: int) -> bytes:
    """``teams.gateway_password_encrypted`` exactly as the database holds it."""
    with app.app_context():
        value = db.session.execute(
            sa.text("SELECT gateway_password_encrypted FROM teams WHERE id = :id"),
            {"id": team_id},
        ).scalar_one()
    return bytes(value)


# -- flask users create ---------------------------------------------------------------------------


def test_users_create_makes_an_account_that_signs_in(app: Flask, runner: FlaskCliRunner) -> None:
    result = create_user(runner, "  Ada@Example.COM ")
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"Created user ada@example\.com \(id \d+\)\.\n", result.output)

    client = app.test_client()
    response = sign_in(client, "ada@example.com")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    home = client.get("/").get_data(as_text=True)
    assert "ada@example.com" in home
    assert "You are not in a team" in home  # an account alone has no team yet

    other = app.test_client()
    refused = sign_in(other, "ada@example.com", "not the password")
    assert refused.status_code == 200
    assert "The email or password is not right." in refused.get_data(as_text=True)


def test_users_create_asks_for_the_password_twice_when_not_given(
    app: Flask, runner: FlaskCliRunner
) -> None:
    result = runner.invoke(
        args=["users", "create", "ada@example.com"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output  # hidden input
    assert sign_in(app.test_client(), "ada@example.com").status_code == 302


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-email", PASSWORD, "Enter an email address like name@example.com."),
        ("ada@localhost", PASSWORD, "Enter an email address like name@example.com."),
        ("ada@example.com", "short", "Use a password of at least 8 characters."),
        (
            "ada@example.com",
            "password1",
            "This password is too easy to guess. This is a very common password.",
        ),
        (
            "ada@example.com",
            "ada@example.com",  # the email itself
            "This password is too easy to guess. Add another word or two. Uncommon words are "
            "better.",
        ),
        ("ada@example.com", "p" * 129, "Use a password of at most 128 characters."),
    ],
)
def test_users_create_refuses_what_is_not_valid(
    app: Flask, runner: FlaskCliRunner, email: str, password: str, message: str
) -> None:
    result = create_user(runner, email, password)
    assert result.exit_code != 0
    assert result.output == f"Error: {message}\n"
    assert count(app, User) == 0


def test_users_create_refuses_an_email_already_taken(app: Flask, runner: FlaskCliRunner) -> None:
    assert create_user(runner, "ada@example.com").exit_code == 0
    result = create_user(runner, "ADA@example.com", "another password")
    assert result.exit_code != 0
    assert result.output == ("Error: An account with this email already exists. Sign in instead.\n")
    assert count(app, User) == 1
    # The first password still works; the second one was never set.
    assert sign_in(app.test_client(), "ada@example.com").status_code == 302
    assert sign_in(app.test_client(), "ada@example.com", "another password").status_code == 200


# -- flask teams create ---------------------------------------------------------------------------


def test_teams_create_makes_a_team_owned_by_the_user_on_the_sandbox(
    app: Flask, runner: FlaskCliRunner
) -> None:
    create_user(runner, "ada@example.com")
    result = create_team(runner, "Acme", "Ada@Example.com")
    assert result.exit_code == 0, result.output

    team = team_named(app, "Acme")
    # stdout: the warning that the sandbox is not reachable goes to stderr, as logs do.
    assert result.stdout == (
        f"Created team 'Acme' (id {team.id}) owned by ada@example.com"
        " (sandbox not reachable now: account made on first use).\n"
    )
    assert len(team.status_queue_name) == 16
    assert QUEUE_NAME.fullmatch(team.status_queue_name)
    assert team.gateway_mode == GatewayMode.SANDBOX
    assert team.gateway_login
    assert team.sandbox_account_ready is False
    with app.app_context():
        assert app.config["SANDBOX_URL"] == UNREACHABLE_SANDBOX
        memberships = db.session.scalars(select(Membership).where(Membership.team_id == team.id))
        assert [(m.user.email, m.role) for m in memberships] == [("ada@example.com", Role.OWNER)]
        owner = db.session.scalars(select(User).where(User.email == "ada@example.com")).one()
        assert owner.last_team_id == team.id
        assert decrypt_secret(
            app.config, team.gateway_password_encrypted
        )  # a sandbox password of its own
        actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.team_id == team.id))
        assert list(actions) == ["team_created"]

    # The owner signs in straight into the team, as its owner.
    client = app.test_client()
    assert sign_in(client, "ada@example.com").status_code == 302
    home = client.get("/").get_data(as_text=True)
    assert '<strong data-testid="current-team">Acme</strong>' in home
    assert '<span class="badge">owner</span>' in home


def test_teams_create_gives_each_team_its_own_status_queue(
    app: Flask, runner: FlaskCliRunner
) -> None:
    create_user(runner, "ada@example.com")
    for name in ("Acme", "Beta", "Gamma"):
        assert create_team(runner, name, "ada@example.com").exit_code == 0
    queues = {team_named(app, name).status_queue_name for name in ("Acme", "Beta", "Gamma")}
    assert len(queues) == 3
    assert all(QUEUE_NAME.fullmatch(q) and len(q) == 16 for q in queues)


def test_teams_create_provisions_the_teams_sandbox_account(
    make_app: Callable[..., Flask], sandbox: SandboxServer
) -> None:
    app = make_app(SANDBOX_URL=sandbox.base_url)
    runner = app.test_cli_runner()
    create_user(runner, "ada@example.com")
    result = create_team(runner, "Acme", "ada@example.com")
    assert result.exit_code == 0, result.output
    assert "not reachable" not in result.output
    assert result.output.endswith("owned by ada@example.com.\n")

    team = team_named(app, "Acme")
    assert team.sandbox_account_ready is True
    with app.app_context():
        password = decrypt_secret(app.config, team.gateway_password_encrypted)
    balances = {b.type: b.balance for b in sandbox.client(team.gateway_login, password).balance()}
    assert balances["RUB"] == Decimal(app.config["SANDBOX_STARTING_BALANCE"])
    # The account is the team's own: another password does not open it.
    with pytest.raises(AuthorizationError):
        sandbox.client(team.gateway_login, password + "x").balance()


def test_teams_create_fails_clearly_for_an_unknown_owner(
    app: Flask, runner: FlaskCliRunner
) -> None:
    result = create_team(runner, "Acme", "nobody@example.com")
    assert result.exit_code != 0
    assert result.output == (
        "Error: No user nobody@example.com; create it with `flask users create`.\n"
    )
    assert count(app, Team) == 0


def test_teams_create_refuses_a_blank_name_with_a_message(
    app: Flask, runner: FlaskCliRunner
) -> None:
    create_user(runner, "ada@example.com")
    result = create_team(runner, "   ", "ada@example.com")
    assert result.exit_code != 0
    assert count(app, Team) == 0
    assert result.output == "Error: Give the team a name.\n"


# -- flask teams set-gateway ----------------------------------------------------------------------


@pytest.fixture
def acme(app: Flask, runner: FlaskCliRunner) -> Team:
    """Team Acme owned by ada@example.com, made with the CLI."""
    app.config["GATEWAY_ALLOWED_HOSTS"] = "gateway.example.com"  # IQSMS_URL's host
    assert create_user(runner, "ada@example.com").exit_code == 0
    assert create_team(runner, "Acme", "ada@example.com").exit_code == 0
    return team_named(app, "Acme")


@pytest.mark.parametrize("by", ["id", "name"])
def test_set_gateway_stores_the_iqsms_password_encrypted(
    app: Flask, runner: FlaskCliRunner, acme: Team, by: str
) -> None:
    ref = str(acme.id) if by == "id" else "Acme"
    secret = "S3cret-iqsms-pass"
    gateway = ["--url", IQSMS_URL, "--login", "acme-login", "--password", secret]
    result = runner.invoke(args=["teams", "set-gateway", ref, *gateway])
    assert result.exit_code == 0, result.output
    assert result.output == f"Team 'Acme' now sends through {IQSMS_URL}.\n"

    team = team_named(app, "Acme")
    assert team.gateway_mode == GatewayMode.IQSMS
    assert team.gateway_url == IQSMS_URL
    assert team.gateway_login == "acme-login"
    assert team.status_queue_name == acme.status_queue_name  # the queue stays the team's
    raw = raw_password_column(app, acme.id)
    assert raw
    assert secret.encode() not in raw
    assert secret.encode().hex().encode() not in raw
    with app.app_context():
        assert decrypt_secret(app.config, raw) == secret
        events = db.session.scalars(
            select(AuditEvent).where(
                AuditEvent.team_id == acme.id, AuditEvent.action == "gateway_changed"
            )
        ).all()
        assert [(e.user_id, e.details["by"], e.details["mode"]) for e in events] == [
            (None, "cli", "iqsms")
        ]
        assert all(secret not in str(e.details) for e in events)


def test_set_gateway_keeps_the_saved_password_when_none_is_given(
    app: Flask, runner: FlaskCliRunner, acme: Team
) -> None:
    first = ["teams", "set-gateway", "Acme", "--login", "acme-login", "--password", "first-pass"]
    assert runner.invoke(args=first).exit_code == 0
    # The same URL and login (a new login or URL needs the password again).
    result = runner.invoke(args=["teams", "set-gateway", "Acme", "--login", "acme-login"])
    assert result.exit_code == 0, result.output
    # No --url: the real iQSMS API.
    assert result.output == "Team 'Acme' now sends through https://api.iqsms.ru/messages/v2/.\n"
    team = team_named(app, "Acme")
    assert team.gateway_login == "acme-login"
    with app.app_context():
        assert decrypt_secret(app.config, raw_password_column(app, acme.id)) == "first-pass"


def test_set_gateway_sandbox_switches_back(app: Flask, runner: FlaskCliRunner, acme: Team) -> None:
    to_iqsms = ["teams", "set-gateway", str(acme.id), "--login", "acme-login"]
    assert runner.invoke(args=[*to_iqsms, "--password", "iqsms-pass"]).exit_code == 0

    result = runner.invoke(args=["teams", "set-gateway", "Acme", "--sandbox"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"Team 'Acme' now sends through {UNREACHABLE_SANDBOX}"
        " (sandbox not reachable now: account made on first use).\n"
    )
    team = team_named(app, "Acme")
    assert team.gateway_mode == GatewayMode.SANDBOX
    assert team.gateway_login != "acme-login"
    with app.app_context():
        # A fresh sandbox password of its own, not the iQSMS one.
        assert decrypt_secret(app.config, raw_password_column(app, acme.id)) not in (
            "",
            "iqsms-pass",
        )


def test_set_gateway_sandbox_makes_a_working_sandbox_account(
    make_app: Callable[..., Flask], sandbox: SandboxServer
) -> None:
    app = make_app(SANDBOX_URL=sandbox.base_url)
    runner = app.test_cli_runner()
    create_user(runner, "ada@example.com")
    create_team(runner, "Acme", "ada@example.com")
    to_iqsms = ["teams", "set-gateway", "Acme", "--login", "acme-login", "--password", "pass1234"]
    assert runner.invoke(args=to_iqsms).exit_code == 0

    result = runner.invoke(args=["teams", "set-gateway", "Acme", "--sandbox"])
    assert result.exit_code == 0, result.output
    assert result.output == f"Team 'Acme' now sends through {sandbox.base_url}.\n"
    team = team_named(app, "Acme")
    assert team.sandbox_account_ready is True
    with app.app_context():
        password = decrypt_secret(app.config, team.gateway_password_encrypted)
    balances = {b.type: b.balance for b in sandbox.client(team.gateway_login, password).balance()}
    assert "RUB" in balances


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Nope", "--sandbox"], "Error: No team 'Nope'; see `flask teams list`.\n"),
        (["999", "--sandbox"], "Error: No team '999'; see `flask teams list`.\n"),
        (["Acme"], "Error: Give --login and --password, or --sandbox.\n"),
        (["Acme", "--login", "acme-login"], "Error: Give --password too.\n"),
    ],
)
def test_set_gateway_fails_clearly(
    app: Flask, runner: FlaskCliRunner, acme: Team, args: list[str], message: str
) -> None:
    result = runner.invoke(args=["teams", "set-gateway", *args])
    assert result.exit_code != 0
    assert result.output == message
    team = team_named(app, "Acme")
    assert team.gateway_mode == GatewayMode.SANDBOX  # unchanged
    assert team.gateway_login == acme.gateway_login


def test_set_gateway_refuses_a_name_that_several_teams_share(
    app: Flask, runner: FlaskCliRunner, acme: Team
) -> None:
    assert create_team(runner, "Acme", "ada@example.com").exit_code == 0
    result = runner.invoke(
        args=["teams", "set-gateway", "Acme", "--login", "acme-login", "--password", "pass1234"]
    )
    with app.app_context():
        modes = db.session.scalars(select(Team.gateway_mode).where(Team.name == "Acme")).all()
    assert modes == [GatewayMode.SANDBOX, GatewayMode.SANDBOX]  # neither changed
    assert result.exit_code != 0
    assert "Acme" in result.output


# -- flask teams list -----------------------------------------------------------------------------


def test_teams_list_shows_each_team_with_its_gateway_and_owners(
    app: Flask, runner: FlaskCliRunner
) -> None:
    app.config["GATEWAY_ALLOWED_HOSTS"] = "gateway.example.com"  # IQSMS_URL's host
    for email in ("ada@example.com", "grace@example.com", "linus@example.com"):
        assert create_user(runner, email).exit_code == 0
    assert create_team(runner, "Acme", "ada@example.com").exit_code == 0
    assert create_team(runner, "Beta", "grace@example.com").exit_code == 0
    set_beta = ["teams", "set-gateway", "Beta", "--url", IQSMS_URL, "--login", "beta-login"]
    assert runner.invoke(args=[*set_beta, "--password", "beta-pass"]).exit_code == 0
    acme, beta = team_named(app, "Acme"), team_named(app, "Beta")
    with app.app_context():  # grace co-owns Acme; linus only sends there
        users = {u.email: u for u in db.session.scalars(select(User))}
        db.session.add(Membership(team_id=acme.id, user=users["grace@example.com"], role="owner"))
        db.session.add(Membership(team_id=acme.id, user=users["linus@example.com"], role="sender"))
        db.session.commit()

    result = runner.invoke(args=["teams", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2
    acme_line, beta_line = lines
    assert acme_line.split()[:2] == [str(acme.id), "Acme"]
    assert f"gateway: sandbox ({UNREACHABLE_SANDBOX})" in acme_line
    assert f"queue: {acme.status_queue_name}" in acme_line
    assert "members: 3" in acme_line
    owners = acme_line.split("owners: ")[1]
    assert sorted(owners.split(", ")) == ["ada@example.com", "grace@example.com"]
    assert "linus" not in acme_line

    assert beta_line.split()[:2] == [str(beta.id), "Beta"]
    assert f"gateway: beta-login ({IQSMS_URL})" in beta_line
    assert f"queue: {beta.status_queue_name}" in beta_line
    assert "members: 1" in beta_line
    assert beta_line.endswith("owners: grace@example.com")
    assert "beta-pass" not in result.output


def test_set_gateway_records_the_change_as_the_web_does(
    app: Flask, runner: FlaskCliRunner, acme: Team
) -> None:
    args = ["teams", "set-gateway", "Acme", "--url", IQSMS_URL, "--login", "acme-login"]
    assert runner.invoke(args=[*args, "--password", "pass1234"]).exit_code == 0
    with app.app_context():
        (event,) = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "gateway_changed")
        ).all()
    # One rule records gateway changes: the same details as a change made on the web page.
    assert event.details == {
        "mode": "iqsms",
        "url": IQSMS_URL,
        "login": "acme-login",
        "password_changed": True,
        "by": "cli",
    }
