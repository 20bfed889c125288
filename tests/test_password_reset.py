"""Password reset links without mail: `flask users reset-link EMAIL` prints one; it works once,
for an hour, is stored only as a hash, and ends every sign-in session of the account.
(Mailed links: tests/test_mail.py.)"""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import PASSWORD, csrf_token, sign_in
from webapp.extensions import db
from webapp.models import AuditEvent, utcnow
from webapp.models.user import PasswordReset

NEW_PASSWORD = "Tangerine quasar 47 mill"


def reset_link(app: Flask, email: str = "ann@example.com") -> str:
    result = app.test_cli_runner().invoke(args=["users", "reset-link", email])
    assert result.exit_code == 0, result.output
    return re.search(r"https?://\S+", result.output).group(0)


def path_of(link: str) -> str:
    return "/" + link.split("://", 1)[1].split("/", 1)[1]


def set_password(client: FlaskClient, path: str, password: str = NEW_PASSWORD):
    token = csrf_token(client, path)
    return client.post(
        path, data={"csrf_token": token, "new_password": password, "confirm": password}
    )


def test_the_cli_prints_a_link_that_sets_a_new_password_once(app, make_person) -> None:
    ann = make_person("ann@example.com")
    phone = app.test_client()
    assert sign_in(phone, "ann@example.com", remember="y").status_code == 302
    link = reset_link(app)
    assert link.startswith("http://127.0.0.1:5000/password/reset/")
    path = path_of(link)

    client = app.test_client()
    page = client.get(path)
    assert page.status_code == 200 and "ann@example.com" in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    done = set_password(client, path)
    assert done.status_code == 302 and done.headers["Location"] == "/login"
    # Every session of the account ended, remember-me included.
    assert ann.get("/team").status_code == 302 and phone.get("/team").status_code == 302
    assert sign_in(app.test_client(), "ann@example.com").status_code == 200  # old refused
    assert sign_in(app.test_client(), "ann@example.com", NEW_PASSWORD).status_code == 302
    # Single use.
    again = client.get(path)
    assert again.status_code == 404 and "does not work" in again.text
    with app.app_context():
        assert "password_reset" in db.session.scalars(sa.select(AuditEvent.action)).all()


def test_only_a_hash_of_the_token_is_stored(app, make_person) -> None:
    make_person("ann@example.com")
    token = path_of(reset_link(app)).rsplit("/", 1)[1]
    with app.app_context():
        rows = db.session.execute(sa.select(PasswordReset.__table__)).all()
    stored = " ".join(str(value) for row in rows for value in row)
    assert len(rows) == 1 and token not in stored


def test_a_link_expires_after_an_hour(app, make_person) -> None:
    make_person("ann@example.com")
    path = path_of(reset_link(app))
    with app.app_context():
        reset = db.session.scalars(sa.select(PasswordReset)).one()
        assert timedelta(minutes=59) < reset.expires_at - utcnow() <= timedelta(hours=1)
        reset.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    client = app.test_client()
    assert client.get(path).status_code == 404
    assert sign_in(client, "ann@example.com").status_code == 302  # password unchanged


def test_a_weak_new_password_is_refused_and_the_link_still_works(app, make_person) -> None:
    make_person("ann@example.com")
    path = path_of(reset_link(app))
    client = app.test_client()
    weak = set_password(client, path, "password123")
    assert weak.status_code == 200 and "This is a very common password." in weak.text
    assert set_password(client, path).status_code == 302


def test_a_password_change_voids_open_reset_links(app, make_person) -> None:
    ann = make_person("ann@example.com")
    first, second = path_of(reset_link(app)), path_of(reset_link(app))
    assert app.test_client().get(first).status_code == 200  # a newer link leaves older ones
    changed = ann.post(
        "/account",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert changed.status_code == 302
    # The password changed since: links made for the old one no longer work.
    assert app.test_client().get(first).status_code == 404
    assert app.test_client().get(second).status_code == 404


def test_reset_link_for_an_unknown_email_says_so(app) -> None:
    result = app.test_cli_runner().invoke(args=["users", "reset-link", "nobody@example.com"])
    assert result.exit_code != 0 and "No user nobody@example.com" in result.output


def test_the_cli_link_starts_with_public_url(make_app, monkeypatch) -> None:
    monkeypatch.setenv("IQSMS_PUBLIC_URL", "https://sms.example.com/desk/")
    app = make_app()
    with app.app_context():
        from webapp.domain import accounts

        accounts.create_user(db.session, "ann@example.com", PASSWORD)
        db.session.commit()
    assert reset_link(app).startswith("https://sms.example.com/desk/password/reset/")
