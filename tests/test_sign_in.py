"""Signing in and out as an attacker would test it: copied cookies after sign-out, the work done
for unknown emails, throttling by address and by account and address, guessable passwords, the
CSRF token at sign-in, and signed-in pages kept out of caches."""

from __future__ import annotations

import hashlib
import logging
import re

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from tests.helpers import PASSWORD, csrf_token, post_form, sign_in
from webapp.extensions import db
from webapp.models.user import SignInSession

STRANGER = {"REMOTE_ADDR": "203.0.113.9"}


def copy_cookies(source: FlaskClient, target: FlaskClient, *names: str) -> None:
    """Put ``source``'s cookies in ``target``, as someone who copied them from a browser."""
    for name in names:
        cookie = source.get_cookie(name)
        assert cookie is not None, f"no {name} cookie"
        target.set_cookie(name, cookie.value)


def sign_in_with(client: FlaskClient, email: str, password: str = PASSWORD, **kwargs):
    """Sign in with request options (``environ_base``, ``headers``), which sign_in posts as
    form fields."""
    return post_form(client, "/login", {"email": email, "password": password}, **kwargs)


def signed_in(client: FlaskClient) -> bool:
    return client.get("/team").status_code == 200


# -- sign-out ends the session on the server -----------------------------------------------------


def test_a_copied_session_cookie_stops_working_at_sign_out(app, make_person) -> None:
    ann = make_person("ann@example.com")
    thief = app.test_client()
    copy_cookies(ann.client, thief, "session")
    assert signed_in(thief)  # the copy works while the session lasts
    assert ann.post("/logout").status_code == 302
    assert not signed_in(ann.client)
    assert not signed_in(thief)


def test_a_copied_remember_me_cookie_stops_working_at_sign_out(app, make_person) -> None:
    make_person("ann@example.com")
    laptop = app.test_client()
    assert sign_in(laptop, "ann@example.com", remember="y").status_code == 302
    thief = app.test_client()
    copy_cookies(laptop, thief, "remember_token")
    assert signed_in(thief)  # the remember-me cookie alone signs in
    thief_with_session = app.test_client()
    copy_cookies(laptop, thief_with_session, "session", "remember_token")
    assert post_form(laptop, "/logout").status_code == 302
    assert not signed_in(thief)
    assert not signed_in(thief_with_session)


def test_a_password_change_ends_every_other_session_remember_me_included(app, make_person) -> None:
    ann = make_person("ann@example.com")
    phone = app.test_client()
    sign_in(phone, "ann@example.com", remember="y")
    thief = app.test_client()
    copy_cookies(phone, thief, "remember_token")
    new = "velvet kangaroo lantern 92"
    changed = ann.post(
        "/account", {"current_password": PASSWORD, "new_password": new, "confirm": new}
    )
    assert changed.status_code == 302
    assert signed_in(ann.client)
    assert not signed_in(phone) and not signed_in(thief)


def test_the_account_page_lists_sessions_and_ends_another_one(app, make_person) -> None:
    ann = make_person("ann@example.com")
    bob = make_person("bob@example.com")
    tablet = app.test_client()
    sign_in_with(tablet, "ann@example.com", headers={"User-Agent": "Tablet Browser 1.0"})
    page = ann.get("/account").text
    assert "Tablet Browser 1.0" in page and "This device" in page
    with app.app_context():
        rows = db.session.scalars(
            sa.select(SignInSession).order_by(SignInSession.created_at, SignInSession.id)
        ).all()
        ann_tablet = next(r.public_id for r in rows if r.user_agent == "Tablet Browser 1.0")
        bobs = [r.public_id for r in rows if r.user_id == bob.user_id]
    # Another person's session is not Ann's to end: nothing happens to it.
    answer = ann.post("/account/sessions/end", {"session_id": bobs[0]}, follow_redirects=True)
    assert "That session had already ended." in answer.text
    assert signed_in(bob.client)
    answer = ann.post("/account/sessions/end", {"session_id": ann_tablet}, follow_redirects=True)
    assert "That session is signed out." in answer.text
    assert not signed_in(tablet) and signed_in(ann.client)


def test_each_sign_in_is_a_session_of_its_own(app, make_person) -> None:
    make_person("ann@example.com")
    first, second = app.test_client(), app.test_client()
    sign_in(first, "ann@example.com")
    sign_in(second, "ann@example.com")
    post_form(first, "/logout")
    assert signed_in(second)  # signing out on one device leaves the others
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SignInSession)) == 2


# -- the same work for unknown emails ------------------------------------------------------------


def test_an_unknown_email_costs_the_same_password_hashing_as_a_known_one(
    app, make_person, monkeypatch
) -> None:
    make_person("ann@example.com")
    sign_in(app.test_client(), "nobody@example.com", "a guess")  # the dummy hash is made once
    calls: list[tuple] = []
    real_scrypt = hashlib.scrypt

    def counting_scrypt(password, *, salt, n, r, p, maxmem=0, dklen=64):
        calls.append((n, r, p, dklen))
        return real_scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=dklen)

    monkeypatch.setattr(hashlib, "scrypt", counting_scrypt)
    client = app.test_client()
    sign_in(client, "ann@example.com", "a wrong password")
    known = list(calls)
    calls.clear()
    sign_in(client, "nobody@example.com", "a wrong password")
    assert known and calls == known  # one scrypt with the same cost, either way


# -- throttling by address, and by account and address -------------------------------------------


def test_a_stranger_cannot_lock_the_owner_out_from_another_address(app, make_person) -> None:
    make_person("ann@example.com")
    stranger = app.test_client()
    for _ in range(8):
        sign_in_with(stranger, "ann@example.com", "a guess", environ_base=STRANGER)
    assert sign_in_with(stranger, "ann@example.com", environ_base=STRANGER).status_code == 429
    assert sign_in(app.test_client(), "ann@example.com").status_code == 302  # the owner


def test_one_address_failing_for_many_emails_is_held_back(make_app) -> None:
    app = make_app(LOGIN_FAILURES_PER_IP=4)
    client = app.test_client()
    for n in range(4):
        sign_in_with(client, f"user{n}@example.com", "a guess", environ_base=STRANGER)
    held = sign_in_with(client, "new@example.com", "a guess", environ_base=STRANGER)
    assert held.status_code == 429
    assert sign_in_with(client, "new@example.com", "a guess").status_code == 200  # elsewhere


def test_forwarded_requests_without_proxy_fix_are_warned_about_once(app, caplog) -> None:
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger=app.logger.name):
        client.get("/login")
        assert not [r for r in caplog.records if "X-Forwarded-For" in r.getMessage()]
        for _ in range(3):
            client.get("/login", headers={"X-Forwarded-For": "198.51.100.4"})
    warnings = [r for r in caplog.records if "X-Forwarded-For" in r.getMessage()]
    assert len(warnings) == 1 and "IQSMS_PROXY_FIX_HOPS" in warnings[0].getMessage()


def test_no_warning_when_the_proxy_is_trusted(make_app, caplog) -> None:
    app = make_app(PROXY_FIX_HOPS=1)
    with caplog.at_level(logging.WARNING, logger=app.logger.name):
        app.test_client().get("/login", headers={"X-Forwarded-For": "198.51.100.4"})
    assert not [r for r in caplog.records if "X-Forwarded-For" in r.getMessage()]


# -- passwords -----------------------------------------------------------------------------------


def signup(client: FlaskClient, password: str, email: str = "ann.lee@example.com"):
    return post_form(
        client, "/signup", {"email": email, "password": password, "team_name": "Quokka Sails"}
    )


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("password1", "This is a very common password."),
        ("qwertyuiop", "too easy to guess"),
        ("ann.lee@example.com", "too easy to guess"),  # the email itself
        ("annexample", "too easy to guess"),  # built on the email
        ("quokkasails", "too easy to guess"),  # the team's name
        ("short", "Use 8 to 128 characters."),
        ("x" * 60 + " a very long but fine phrase " + "y" * 60, "Use 8 to 128 characters."),
    ],
)
def test_sign_up_refuses_weak_passwords_with_the_reason_beside_the_field(
    client, password: str, reason: str
) -> None:
    response = signup(client, password)
    assert response.status_code == 200
    error = re.search(r'<p class="field-error" id="password-error">([^<]*)</p>', response.text)
    assert error and reason in error.group(1), response.text
    assert client.get("/team").status_code == 302  # no account, not signed in


def test_a_strong_password_is_taken(client) -> None:
    assert signup(client, "Tangerine quasar 47 mill").status_code == 302


def test_helpers_password_is_strong_by_the_same_rules() -> None:
    from webapp.domain.accounts import check_password_rules

    check_password_rules(PASSWORD, ["ann@example.com"])


def test_invitation_accept_and_password_change_refuse_weak_passwords(app, make_person) -> None:
    ann = make_person("ann@example.com")
    page = ann.post("/team/invitations", {"role": "viewer", "note": "for bob"}).text
    link = re.search(r'value="[^"]*(/invite/[^"]+)" data-testid="invite-link"', page)
    assert link, page
    invite_path = link.group(1)
    guest = app.test_client()
    token = csrf_token(guest, invite_path)
    refused = guest.post(
        invite_path,
        data={"csrf_token": token, "email": "bob@example.com", "password": "password123"},
    )
    assert "This is a very common password." in refused.text
    weak = ann.post(
        "/account",
        {"current_password": PASSWORD, "new_password": "annannann", "confirm": "annannann"},
    )
    assert "too easy to guess" in weak.text and weak.status_code == 200


# -- the CSRF token and caches -------------------------------------------------------------------


def test_the_csrf_token_changes_at_sign_in_and_the_old_one_is_refused(app, make_person) -> None:
    make_person("ann@example.com")
    client = app.test_client()
    before = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"email": "ann@example.com", "password": PASSWORD, "csrf_token": before}
    )
    assert response.status_code == 302
    after = csrf_token(client, "/account")
    assert after != before
    stale = client.post("/logout", data={"csrf_token": before})
    assert stale.status_code == 400  # a token planted before sign-in is worthless after it
    assert signed_in(client)


def test_signed_in_responses_are_never_stored(app, make_person) -> None:
    ann = make_person("ann@example.com")
    for path in ("/", "/team", "/account", "/campaigns", "/no-such-page"):
        assert ann.get(path).headers.get("Cache-Control") == "no-store", path
    fragment = ann.get("/team", headers={"HX-Request": "true"})
    assert fragment.headers.get("Cache-Control") == "no-store"
    assert ann.post("/logout").headers.get("Cache-Control") == "no-store"
    # Signed-out public pages and static files may be cached.
    assert app.test_client().get("/").headers.get("Cache-Control") != "no-store"
    with ann.get("/static/css/app.css") as static:
        assert static.headers.get("Cache-Control") != "no-store"
