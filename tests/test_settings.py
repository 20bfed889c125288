"""Every documented setting, given in the environment as ``IQSMS_<NAME>`` (or as README names it),
changes what the app does. Where each is tested:

- ``DATABASE_URL``, ``SECRET_KEY``: here.
- ``IQSMS_SANDBOX_URL``, ``IQSMS_SANDBOX_STATE_PATH``, ``IQSMS_INSTANCE_PATH``,
  ``IQSMS_ENCRYPTION_KEY``, ``IQSMS_SIGNUP_ENABLED``, ``IQSMS_INVITATION_TTL_HOURS``,
  ``IQSMS_PROXY_FIX_HOPS``, ``IQSMS_SANDBOX_STARTING_BALANCE``, ``IQSMS_SANDBOX_PRICE_PER_PART``,
  ``IQSMS_SANDBOX_CONTROL_TOKEN``: here (generated when unset: tests/test_sandbox_control.py).
- The settings of ``webapp.config.Defaults`` that README leaves to "any other setting":
  ``IQSMS_LOGIN_FAILURES_PER_ACCOUNT_IP``, ``IQSMS_LOGIN_FAILURES_PER_IP``,
  ``IQSMS_LOGIN_WINDOW_SECONDS``, ``IQSMS_GATEWAY_INTERACTIVE_TIMEOUT``,
  ``IQSMS_MAX_FORM_MEMORY_SIZE``: here.
- ``IQSMS_MAIL_SERVER``, ``IQSMS_MAIL_PORT``, ``IQSMS_MAIL_USERNAME``, ``IQSMS_MAIL_PASSWORD``,
  ``IQSMS_MAIL_USE_TLS``, ``IQSMS_MAIL_USE_SSL``, ``IQSMS_MAIL_FROM``, ``IQSMS_MAIL_TIMEOUT``
  and ``IQSMS_PUBLIC_URL``: tests/test_mail.py (a real SMTP server on loopback).
- ``IQSMS_BALANCE_INTERVAL``: tests/test_balance.py (the tests that set it in the environment).
- ``IQSMS_STATUS_CHECK_AFTER_MINUTES``, ``IQSMS_STATUS_EXPIRE_AFTER_HOURS``,
  ``IQSMS_DISPATCH_THREADS``, ``IQSMS_SEND_IN_FLIGHT`` and ``IQSMS_STATUS_APPLIERS``:
  tests/test_statuses.py and
  tests/test_dispatch.py; ``IQSMS_STALE_CLAIM_SECONDS``: tests/test_soak.py (the workers'
  claim limit) and tests/test_dispatch.py.
- ``IQSMS_TEAM_THREADS``: tests/test_worker_fairness.py.
- ``IQSMS_MAX_CONTENT_LENGTH``: tests/test_bounded_work.py; ``IQSMS_UPLOAD_MAX_BYTES``:
  tests/test_csv_import.py; ``IQSMS_UPLOAD_QUOTA_BYTES`` and ``IQSMS_UPLOAD_EXPIRE_HOURS``:
  tests/test_uploads_at_rest.py.
- ``IQSMS_GATEWAY_ALLOWED_HOSTS``, ``IQSMS_GATEWAY_DEADLINE``, ``IQSMS_GATEWAY_MAX_REPLY_BYTES``
  and ``IQSMS_GATEWAY_INTERACTIVE_COOLDOWN``: tests/test_gateway_policy.py.
- ``IQSMS_LOG_FORMAT``, ``IQSMS_LOG_LEVEL``, ``IQSMS_METRICS_TOKEN`` and
  ``IQSMS_WORKER_HEARTBEAT_STALE_SECONDS``: tests/test_operations.py.
- ``IQSMS_DB_IDLE_IN_TRANSACTION_SECONDS`` and ``IQSMS_DB_LOCK_TIMEOUT_SECONDS``:
  tests/test_frozen_locks.py (PostgreSQL).
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from tests.gateway_fixtures import start_sandbox
from tests.helpers import PASSWORD, csrf_token, post_form, sign_in
from webapp import iqsms
from webapp.app import create_app
from webapp.domain import accounts, gateways, teams
from webapp.extensions import db
from webapp.models import Invitation, LoginAttempt, Team, utcnow
from webapp.sandbox import Settings


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch):
    """``env(NAME=value, ...)`` sets ``IQSMS_NAME`` for the apps made after it."""

    def set_env(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"IQSMS_{name}", value)

    return set_env


def signup(client, email: str = "ann@example.com"):
    return post_form(client, "/signup", {"email": email, "password": PASSWORD})


def only_team(app) -> Team:
    with app.app_context():
        return db.session.scalars(sa.select(Team)).one()


# -- where things are ----------------------------------------------------------------------------


def test_database_url_picks_the_database(make_app, monkeypatch, tmp_path: Path) -> None:
    path = tmp_path / "from-env.sqlite3"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    app = make_app(from_environment=("SQLALCHEMY_DATABASE_URI",))
    assert signup(app.test_client()).status_code == 302
    with sa.create_engine(f"sqlite:///{path}").connect() as connection:
        assert connection.execute(sa.text("SELECT email FROM users")).scalars().all() == [
            "ann@example.com"
        ]


def test_secret_key_signs_sessions_for_every_process_that_shares_it(make_app, monkeypatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "one key for web and worker")
    web = make_app(from_environment=("SECRET_KEY",))
    browser = web.test_client()
    assert signup(browser).status_code == 302
    cookie = browser.get_cookie("session").value

    def account_page_with_the_cookie() -> int:
        """In another process on the same database, with the environment as it is now."""
        other = create_app({"SQLALCHEMY_DATABASE_URI": web.config["SQLALCHEMY_DATABASE_URI"]})
        client = other.test_client()
        client.set_cookie("session", cookie)
        status = client.get("/account").status_code
        with other.app_context():
            db.engine.dispose()
        return status

    assert account_page_with_the_cookie() == 200  # signed in there too
    monkeypatch.setenv("SECRET_KEY", "another key")
    assert account_page_with_the_cookie() == 302  # to the sign-in page


def test_instance_path_holds_the_generated_keys_and_the_sandbox_state(
    make_app, monkeypatch, tmp_path: Path
) -> None:
    instance = tmp_path / "elsewhere"
    monkeypatch.setenv("IQSMS_INSTANCE_PATH", str(instance))
    app = make_app()
    assert Path(app.instance_path) == instance
    assert (instance / "encryption_key").read_text().strip() == app.config["ENCRYPTION_KEY"]
    assert app.config["SANDBOX_STATE_PATH"] == str(instance / "sandbox.sqlite3")


def test_sandbox_state_path_is_where_the_sandbox_commands_keep_accounts(
    make_app, env, tmp_path: Path
) -> None:
    state = tmp_path / "state" / "sandbox.db"
    state.parent.mkdir()
    env(SANDBOX_STATE_PATH=str(state))
    runner = make_app().test_cli_runner()
    added = runner.invoke(args=["sandbox", "add-account", "zed", "--password", "zed-pass"])
    assert added.exit_code == 0, added.output
    assert state.exists()
    assert '"login": "zed"' in runner.invoke(args=["sandbox", "accounts"]).output
    assert not Path(runner.app.instance_path, "sandbox.sqlite3").exists()


def test_encryption_key_encrypts_the_gateway_passwords(make_app, env) -> None:
    key = Fernet.generate_key().decode()
    env(ENCRYPTION_KEY=key)
    app = make_app()
    with app.app_context():
        user = accounts.create_user(db.session, "ann@example.com", PASSWORD)
        team = teams.create_team(db.session, app.config, "Acme", user)
        gateways.use_iqsms(app.config, team, "", "acme", "the iqsms password")
        db.session.commit()
        raw = bytes(team.gateway_password_encrypted)
    assert Fernet(key.encode()).decrypt(raw) == b"the iqsms password"
    assert not Path(app.instance_path, "encryption_key").exists()


# -- the sandbox ---------------------------------------------------------------------------------


def test_sandbox_url_is_where_sandbox_teams_are_sent(make_app, env, sandbox) -> None:
    env(SANDBOX_URL=sandbox.base_url)
    app = make_app(from_environment=("SANDBOX_URL",))
    assert signup(app.test_client()).status_code == 302
    team = only_team(app)
    assert team.sandbox_account_ready
    logins = {a["login"] for a in sandbox.control("GET", "/").json()["accounts"]}
    assert team.gateway_login in logins


def test_a_new_sandbox_account_gets_the_starting_balance_and_price(make_app, env, sandbox):
    env(SANDBOX_STARTING_BALANCE="500.50", SANDBOX_PRICE_PER_PART="3.25")
    app = make_app(SANDBOX_URL=sandbox.base_url)
    assert signup(app.test_client()).status_code == 302
    with app.app_context():
        team = db.session.scalars(sa.select(Team)).one()
        client = gateways.client_for(app.config, team)
        assert client.balance()[0].balance == Decimal("500.50")
        client.send([iqsms.OutgoingMessage("1", "79161234567", "Hello")])
    (sent,) = sandbox.received(team.gateway_login)
    assert sent["cost"] == 325  # kopecks


@pytest.mark.parametrize("token", ["s3cret-token", "12345", "1.50"])
def test_sandbox_control_token_opens_a_sandbox_that_requires_one(
    make_app, env, tmp_path: Path, token: str
) -> None:
    guarded = start_sandbox(str(tmp_path / "guarded.sqlite3"), Settings(control_token=token))
    try:
        without = make_app(SANDBOX_URL=guarded.base_url)
        assert signup(without.test_client(), "ann@example.com").status_code == 302
        assert not only_team(without).sandbox_account_ready  # refused: no token
        env(SANDBOX_CONTROL_TOKEN=token)  # a number-like token too: it is sent as text
        with_token = make_app(
            SANDBOX_URL=guarded.base_url, from_environment=("SANDBOX_CONTROL_TOKEN",)
        )
        with with_token.app_context():
            user = accounts.create_user(db.session, "bob@example.com", PASSWORD)
            team = teams.create_team(db.session, with_token.config, "Bob's", user)
            assert team.sandbox_account_ready
    finally:
        guarded.server.shutdown()
        guarded.server.server_close()
        guarded.gateway.store.close()


# -- people --------------------------------------------------------------------------------------


@pytest.mark.parametrize("closed", ["false", "False", "off"])
def test_signup_enabled_false_leaves_only_the_first_person(make_app, env, closed) -> None:
    env(SIGNUP_ENABLED=closed)
    app = make_app()
    assert signup(app.test_client()).status_code == 302
    second = app.test_client()
    assert second.get("/signup").status_code == 403
    assert signup(second, "bob@example.com").status_code == 403


def test_invitation_ttl_hours_is_how_long_a_link_works(make_app, env, make_person) -> None:
    env(INVITATION_TTL_HOURS="2")
    app = make_app()
    client = app.test_client()
    signup(client)
    before = utcnow()
    assert post_form(client, "/team/invitations", {"role": "sender"}).status_code == 200
    with app.app_context():
        invitation = db.session.scalars(sa.select(Invitation)).one()
        assert before + timedelta(hours=2) <= invitation.expires_at
        assert invitation.expires_at <= utcnow() + timedelta(hours=2)


def failed_sign_ins(client, emails: list[str]) -> None:
    for email in emails:
        assert sign_in(client, email, "wrong password").status_code == 200


def test_login_failures_per_account_ip_is_how_many_tries_pass_unthrottled(make_app, env) -> None:
    env(LOGIN_FAILURES_PER_ACCOUNT_IP="2")
    app = make_app()
    signup(app.test_client())
    client = app.test_client()
    failed_sign_ins(client, ["ann@example.com"] * 2)
    assert sign_in(client, "ann@example.com").status_code == 429  # the default allows 5


def test_login_failures_per_ip_counts_every_email_from_one_address(make_app, env) -> None:
    env(LOGIN_FAILURES_PER_IP="3")
    app = make_app()
    client = app.test_client()
    failed_sign_ins(client, ["a@example.com", "b@example.com", "c@example.com"])
    assert sign_in(client, "d@example.com", "wrong password").status_code == 429


def test_login_window_seconds_is_how_long_failures_count(make_app, env) -> None:
    env(LOGIN_WINDOW_SECONDS="60")
    app = make_app()
    signup(app.test_client())
    with app.app_context():
        earlier = utcnow() - timedelta(minutes=2)  # inside the default 15 minutes
        db.session.add_all(
            LoginAttempt(email="ann@example.com", ip="127.0.0.1", created_at=earlier)
            for _ in range(10)
        )
        db.session.commit()
    assert sign_in(app.test_client(), "ann@example.com").status_code == 302


def test_gateway_interactive_timeout_bounds_test_connection(make_app, env, sandbox) -> None:
    env(GATEWAY_INTERACTIVE_TIMEOUT="0.3")
    app = make_app(SANDBOX_URL=sandbox.base_url)
    client = app.test_client()
    signup(client)
    sandbox.set_faults(latency_ms=1500)
    form = {"mode": "iqsms", "login": "demo", "password": "demo", "url": sandbox.base_url}
    answer = post_form(client, "/team/gateway/test", form).get_data(as_text=True)
    assert "did not answer properly" in answer  # the default 8 s would have waited


# -- the web -------------------------------------------------------------------------------------


def test_proxy_fix_hops_trusts_the_proxys_address_and_scheme(make_app, env) -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    direct = make_app()
    assert (
        "Strict-Transport-Security"
        not in direct.test_client().get("/login", headers=forwarded).headers
    )

    env(PROXY_FIX_HOPS="1")
    app = make_app()
    client = app.test_client()
    page = client.get("/login", headers=forwarded)
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Secure" in page.headers["Set-Cookie"]
    data = {"csrf_token": csrf_token(client), "email": "x@example.com", "password": "wrong"}
    referer = {"Referer": "https://localhost/login"}  # checked on HTTPS, as browsers send it
    assert client.post("/login", data=data, headers=forwarded | referer).status_code == 200
    with app.app_context():
        assert db.session.scalars(sa.select(LoginAttempt.ip)).all() == ["203.0.113.7"]


def test_max_form_memory_size_bounds_form_text(make_app, env) -> None:
    pasted = {"email": "x@example.com", "password": "7" * 600_000}  # over Flask's own 500 KB
    app = make_app()
    client = app.test_client()
    assert post_form(client, "/login", pasted).status_code == 200  # read, and refused
    env(MAX_FORM_MEMORY_SIZE="100000")
    small = make_app()
    assert post_form(small.test_client(), "/login", pasted).status_code == 413


def test_the_documented_settings_are_the_ones_tested() -> None:
    """README's table and this module's list name the same settings."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    documented = set(re.findall(r"`(IQSMS_[A-Z_]+|DATABASE_URL|SECRET_KEY)`", readme))
    listed = set(re.findall(r"``(IQSMS_[A-Z_]+|DATABASE_URL|SECRET_KEY)``", __doc__))
    assert documented - listed == set()
