"""Mail through a real SMTP server on loopback (aiosmtpd in a thread): password reset links and
invitations, the MAIL_* settings from the environment, and failures that never fall back to
sending in clear or hang."""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest

from tests.helpers import PASSWORD, csrf_token, post_form, sign_in
from tests.mail_fixtures import Mailbox, free_port
from webapp.mail import MailError, send_mail

NEW_PASSWORD = "Tangerine quasar 47 mill"


def path_of(link: str) -> str:
    return link.split("sms.example.com", 1)[1]


# -- password resets -----------------------------------------------------------------------------


def test_forgot_password_mails_a_link_that_sets_a_new_password(make_app, env_mail) -> None:
    app = make_app()
    from webapp.domain import accounts

    with app.app_context():
        from webapp.extensions import db

        accounts.create_user(db.session, "ann@example.com", PASSWORD)
        db.session.commit()
    laptop = app.test_client()
    assert sign_in(laptop, "ann@example.com").status_code == 302

    client = app.test_client()
    assert "Forgot password?" in client.get("/login").text
    page = post_form(client, "/password/forgot", {"email": "Ann@Example.com"})
    assert "a link to set a new password is on its way" in page.text
    # The mail goes once the answer is out, when the server closes it: an email with an
    # account answers as fast as one without.
    assert env_mail.messages == []
    page.close()
    (message,) = env_mail.messages
    assert message["To"] == "ann@example.com"
    assert message["From"] == "SMS Desk <desk@example.com>"
    assert env_mail.logins == [("mailer", "s3cret-mail")]
    link = env_mail.link()
    assert link.startswith("https://sms.example.com/password/reset/")  # PUBLIC_URL, not Host

    path = path_of(link)
    token = csrf_token(client, path)
    done = client.post(
        path, data={"csrf_token": token, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert done.status_code == 302 and done.headers["Location"] == "/login"
    assert laptop.get("/team").status_code == 302  # every session of the account ended
    assert sign_in(app.test_client(), "ann@example.com", NEW_PASSWORD).status_code == 302
    assert client.get(path).status_code == 404  # used once


def test_forgot_password_says_the_same_for_unknown_emails_and_mails_nothing(
    make_app, env_mail
) -> None:
    app = make_app()
    client = app.test_client()
    page = post_form(client, "/password/forgot", {"email": "nobody@example.com"})
    assert page.status_code == 200
    assert "If there is an account for nobody@example.com, a link" in page.text
    page.close()
    assert env_mail.messages == []


def test_without_mail_the_forgot_page_says_to_ask_an_operator(client) -> None:
    page = client.get("/password/forgot")
    assert "Ask the person who runs it" in page.text and "flask users reset-link" in page.text
    assert "<form" not in page.text.split("<main", 1)[-1].split("</main>", 1)[0]


def test_without_public_url_no_link_is_mailed(make_app, mailbox: Mailbox, caplog) -> None:
    """A mailed link built on the request's Host header could point anywhere a forged header
    says: without PUBLIC_URL, links are not mailed (and the log says why at start)."""
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=mailbox.port)
    assert "IQSMS_PUBLIC_URL" in caplog.text
    client = app.test_client()
    post_form(client, "/signup", {"email": "ann@example.com", "password": PASSWORD})
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    page = client.get("/password/forgot", headers={"Host": "evil.example"})
    assert "Ask the person who runs it" in page.text
    assert mailbox.messages == []


# -- invitations ---------------------------------------------------------------------------------


def test_an_invitation_for_an_email_is_mailed_to_it(make_app, env_mail) -> None:
    app = make_app()
    client = app.test_client()
    post_form(
        client, "/signup", {"email": "ann@example.com", "password": PASSWORD, "team_name": "Acme"}
    )
    page = post_form(client, "/team/invitations", {"role": "sender", "note": "bob@example.com"})
    assert "The invitation link was mailed to bob@example.com." in page.text
    assert 'data-testid="invite-link"' not in page.text  # mailed, not shown
    (message,) = env_mail.messages
    assert message["To"] == "bob@example.com" and "Acme" in message["Subject"]
    path = path_of(env_mail.link())
    guest = app.test_client()
    token = csrf_token(guest, path)
    joined = guest.post(
        path, data={"csrf_token": token, "email": "bob@example.com", "password": NEW_PASSWORD}
    )
    assert joined.status_code == 302
    assert "Acme" in guest.get("/").text


def test_an_invitation_with_a_plain_note_is_shown_as_before(make_app, env_mail) -> None:
    app = make_app()
    client = app.test_client()
    post_form(client, "/signup", {"email": "ann@example.com", "password": PASSWORD})
    page = post_form(client, "/team/invitations", {"role": "sender", "note": "for Bob"})
    assert 'data-testid="invite-link"' in page.text and env_mail.messages == []


def test_an_invitation_that_cannot_be_mailed_shows_the_link(make_app, monkeypatch) -> None:
    monkeypatch.setenv("IQSMS_MAIL_SERVER", "127.0.0.1")
    monkeypatch.setenv("IQSMS_MAIL_PORT", str(free_port()))  # nothing listens
    monkeypatch.setenv("IQSMS_PUBLIC_URL", "https://sms.example.com/")
    app = make_app()
    client = app.test_client()
    post_form(client, "/signup", {"email": "ann@example.com", "password": PASSWORD})
    page = post_form(client, "/team/invitations", {"role": "sender", "note": "bob@example.com"})
    assert "could not be mailed" in page.text and 'data-testid="invite-link"' in page.text


# -- the settings and failures -------------------------------------------------------------------


def config(port: int, **more) -> dict:
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port, "MAIL_TIMEOUT": 5, **more}


def test_a_wrong_mail_password_is_a_mail_error(mailbox: Mailbox) -> None:
    with pytest.raises(MailError):
        send_mail(
            config(mailbox.port, MAIL_USERNAME="mailer", MAIL_PASSWORD="wrong"),
            "ann@example.com",
            "Hi",
            "text",
        )
    assert mailbox.messages == []


@pytest.mark.parametrize("switch", ["MAIL_USE_TLS", "MAIL_USE_SSL"])
def test_with_tls_asked_for_nothing_goes_in_clear(mailbox: Mailbox, switch: str) -> None:
    """The loopback server speaks no TLS: the message is refused, never sent in clear."""
    with pytest.raises(MailError):
        send_mail(config(mailbox.port, **{switch: True}), "ann@example.com", "Hi", "text")
    assert mailbox.messages == []


def test_tls_switches_are_read_from_the_environment(make_app, monkeypatch) -> None:
    monkeypatch.setenv("IQSMS_MAIL_USE_TLS", "true")
    monkeypatch.setenv("IQSMS_MAIL_USE_SSL", "false")
    app = make_app()
    assert app.config["MAIL_USE_TLS"] is True and app.config["MAIL_USE_SSL"] is False


def test_a_silent_mail_server_gives_up_after_the_mail_timeout(make_app, monkeypatch) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(listener.accept()[0]), daemon=True).start()
    monkeypatch.setenv("IQSMS_MAIL_TIMEOUT", "0.5")
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=listener.getsockname()[1])
    started = time.monotonic()
    try:
        with pytest.raises(MailError):
            send_mail(app.config, "ann@example.com", "Hi", "text")
        assert time.monotonic() - started < 0.5 + 2  # the default 10 s would still wait
    finally:
        for sock in [*held, listener]:
            sock.close()


def test_a_real_server_mails_the_reset_link_after_answering(make_app, env_mail) -> None:
    """Under werkzeug's server (`flask serve`), closing the answer sends the mail."""
    import requests
    from werkzeug.serving import make_server

    from webapp.domain import accounts
    from webapp.extensions import db

    app = make_app()
    with app.app_context():
        accounts.create_user(db.session, "ann@example.com", PASSWORD)
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        browser = requests.Session()
        form = browser.get(base + "/password/forgot", timeout=10).text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
        answer = browser.post(
            base + "/password/forgot",
            data={"csrf_token": token, "email": "ann@example.com"},
            headers={"Referer": base + "/password/forgot"},
            timeout=10,
        )
        assert "is on its way" in answer.text
        deadline = time.monotonic() + 10
        while not env_mail.messages and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()
    (message,) = env_mail.messages
    assert message["To"] == "ann@example.com"
    assert "/password/reset/" in env_mail.link()
