"""Signing up, in and out, passwords, remember-me, throttling and safe redirects."""

import pytest
import sqlalchemy as sa

from tests.helpers import PASSWORD, csrf_token, post_form, sign_in, team_of
from webapp.extensions import db
from webapp.models import AuditEvent, LoginAttempt, Membership, Team, User


def signup(client, email="ann@example.com", password=PASSWORD, team_name="Acme"):
    return post_form(
        client, "/signup", {"email": email, "password": password, "team_name": team_name}
    )


def test_signup_creates_an_owner_with_a_team_on_the_sandbox(make_app, sandbox):
    app = make_app(SANDBOX_URL=sandbox.base_url)
    client = app.test_client()
    response = signup(client, email="  Ann@Example.COM ")
    assert response.status_code == 302
    home = client.get("/").get_data(as_text=True)
    assert "Acme" in home and "owner" in home
    with app.app_context():
        user = db.session.scalar(sa.select(User))
        assert user.email == "ann@example.com"
        assert user.password_hash.startswith("scrypt:")
        (membership,) = user.memberships
        team = membership.team
        assert (team.name, membership.role, team.gateway_mode) == ("Acme", "owner", "sandbox")
        assert team.sandbox_account_ready
        from webapp.domain.gateways import client_for

        # The team's own sandbox account answers with its starting balance.
        assert str(client_for(app.config, team).balance()[0].balance) == "1000.00"


def test_signup_errors_keep_what_was_typed(client):
    response = signup(client, email="not-an-email", password="short", team_name="Acme Co")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Enter an email address like name@example.com." in html
    assert "Use 8 to 128 characters." in html
    assert 'value="not-an-email"' in html and 'value="Acme Co"' in html
    assert 'aria-invalid="true"' in html


def test_signup_with_a_taken_email(client, make_person):
    make_person("ann@example.com")
    html = signup(client, email="ANN@example.com").get_data(as_text=True)
    assert "already exists" in html


def test_signup_can_be_closed_except_for_the_first_person(make_app):
    app = make_app(SIGNUP_ENABLED=False)
    first, second = app.test_client(), app.test_client()
    assert signup(first).status_code == 302  # a fresh install needs its first owner
    assert second.get("/signup").status_code == 403
    assert "by invitation" in second.get("/signup").get_data(as_text=True)


def test_sign_in_and_out(client, make_person, app):
    make_person("ann@example.com")
    assert client.get("/team").status_code == 302  # signed out
    wrong = sign_in(client, "ann@example.com", "wrong password")
    assert "The email or password is not right." in wrong.get_data(as_text=True)
    assert 'value="ann@example.com"' in wrong.get_data(as_text=True)
    assert sign_in(client, "ANN@example.com").status_code == 302
    assert client.get("/team").status_code == 200
    assert client.get("/logout").status_code == 405  # a link cannot sign anyone out
    assert post_form(client, "/logout").status_code == 302
    assert client.get("/team").status_code == 302
    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEvent.action)).all()
        assert actions.count("sign_in") == 2  # make_person's and this one


def test_remember_me_sets_a_long_lived_httponly_cookie(client, make_person):
    make_person("ann@example.com")
    response = sign_in(client, "ann@example.com", remember="y")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("remember"))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    plain = sign_in(client.application.test_client(), "ann@example.com")
    assert not any(c.startswith("remember") for c in plain.headers.getlist("Set-Cookie"))


def test_change_password_signs_out_other_sessions(app, make_person):
    ann = make_person("ann@example.com")
    other_device = app.test_client()
    sign_in(other_device, "ann@example.com")
    wrong = ann.post(
        "/account",
        {"current_password": "nope", "new_password": "a new password", "confirm": "a new password"},
    )
    assert "Your current password is not right." in wrong.get_data(as_text=True)
    mismatch = ann.post(
        "/account",
        {"current_password": PASSWORD, "new_password": "a new password", "confirm": "other"},
    )
    assert "not the same" in mismatch.get_data(as_text=True)
    done = ann.post(
        "/account",
        {
            "current_password": PASSWORD,
            "new_password": "a new password",
            "confirm": "a new password",
        },
    )
    assert done.status_code == 302
    assert ann.get("/team").status_code == 200  # this session carries on
    assert other_device.get("/team").status_code == 302  # the other one is signed out
    fresh = app.test_client()
    assert sign_in(fresh, "ann@example.com").status_code == 200  # old password refused
    assert sign_in(fresh, "ann@example.com", "a new password").status_code == 302


def test_repeated_failures_make_further_tries_wait_across_processes(make_app, make_person):
    first = make_app().test_client()  # two more apps: two "processes", one database
    second = make_app().test_client()
    make_person("ann@example.com")
    for _ in range(5):
        assert sign_in(first, "ann@example.com", "guess").status_code == 200
    blocked = sign_in(second, "ann@example.com")  # right password, other process
    assert blocked.status_code == 429
    assert "Too many failed sign-ins. Try again in 30 seconds." in blocked.get_data(as_text=True)
    # Another person signing in from elsewhere is not affected.
    make_person("bob@example.com")


def test_throttle_waits_double_and_expire(app, make_person):
    from datetime import timedelta

    from webapp.domain.accounts import throttle_wait
    from webapp.models import utcnow

    make_person("ann@example.com")
    now = utcnow()
    with app.app_context():
        for i in range(7):
            db.session.add(
                LoginAttempt(
                    email="x@example.com", ip="10.0.0.1", created_at=now - timedelta(seconds=7 - i)
                )
            )
        db.session.commit()
        assert (
            throttle_wait(db.session, app.config, "x@example.com", "10.0.0.1", now) == 120 - 1
        )  # 30 s × 2² after 7
        assert throttle_wait(db.session, app.config, "y@example.com", "10.0.0.1", now) == 0
        # The same email from another address is not held back by these failures.
        assert throttle_wait(db.session, app.config, "x@example.com", "10.0.0.2", now) == 0
        later = now + timedelta(minutes=16)  # the window passed
        assert throttle_wait(db.session, app.config, "x@example.com", "10.0.0.1", later) == 0


def test_many_failures_from_one_address_are_throttled(make_app):
    app = make_app(LOGIN_FAILURES_PER_IP=3)
    client = app.test_client()
    for n in range(3):
        sign_in(client, f"user{n}@example.com", "guess")
    assert sign_in(client, "someone@example.com", "guess").status_code == 429


@pytest.mark.parametrize(
    ("next_url", "lands_on"),
    [
        ("/team", "/team"),
        ("/team/audit?x=1", "/team/audit?x=1"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
    ],
)
def test_only_safe_next_redirects(client, make_person, next_url, lands_on):
    make_person("ann@example.com")
    response = post_form(
        client, "/login", {"email": "ann@example.com", "password": PASSWORD, "next": next_url}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == lands_on


def test_login_page_passes_next_through(client):
    html = client.get("/login?next=/team/audit").get_data(as_text=True)
    assert 'value="/team/audit"' in html
    assert client.get("/team/audit").headers["Location"].startswith("/login?next=")


def test_a_person_without_a_team_is_offered_to_create_one(app, make_person):
    ann = make_person("ann@example.com")
    team = team_of(app, ann)
    with app.app_context():
        db.session.execute(sa.delete(Membership).where(Membership.team_id == team.id))
        db.session.commit()
    response = ann.get("/team")
    assert response.status_code == 302 and response.headers["Location"] == "/teams/new"
    assert ann.post("/teams/new", {"name": "Fresh"}).status_code == 302
    assert "Fresh" in ann.get("/").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Team)) == 2


def test_csrf_token_is_required(client, make_person):
    make_person("ann@example.com")
    assert (
        client.post("/login", data={"email": "ann@example.com", "password": PASSWORD}).status_code
        == 400
    )
    token = csrf_token(client)
    ok = client.post(
        "/login", data={"email": "ann@example.com", "password": PASSWORD, "csrf_token": token}
    )
    assert ok.status_code == 302
