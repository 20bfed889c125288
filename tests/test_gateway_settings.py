"""Each team's gateway: sandbox or iQSMS account, the password encrypted and never shown,
"test connection" in plain words, the status queue name."""

import re

import sqlalchemy as sa

from tests.helpers import post_form, team_of
from webapp.domain import gateways
from webapp.extensions import db
from webapp.models import AuditEvent, Team


def reload_team(app, team_id):
    with app.app_context():
        return db.session.get(Team, team_id)


def test_a_new_team_has_its_own_queue_and_sandbox_account(make_app, sandbox):

    app = make_app(SANDBOX_URL=sandbox.base_url)
    names = []
    for email in ("ann@example.com", "bob@example.com"):
        client = app.test_client()
        post_form(client, "/signup", {"email": email, "password": "long enough pw"})
        html = client.get("/team/gateway").get_data(as_text=True)
        names.append(re.search(r"<code>([0-9a-zA-Z]+)</code>", html).group(1))
        result = client.post(
            "/team/gateway/test",
            data={"mode": "sandbox"},
            headers={"X-CSRFToken": re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1)},
        )
        assert "Connected." in result.get_data(as_text=True)
        assert "1,000.00" in result.get_data(as_text=True)
    assert len(set(names)) == 2
    assert all(re.fullmatch(r"[0-9a-zA-Z]{16}", n) for n in names)
    with app.app_context():
        logins = db.session.scalars(sa.select(Team.gateway_login)).all()
        assert len(set(logins)) == 2  # one sandbox account each
    accounts = {a["login"] for a in sandbox.control("GET", "/").json()["accounts"]}
    assert set(logins) <= accounts


def test_iqsms_credentials_are_encrypted_and_never_rendered(app, make_person, sandbox):
    app.config["GATEWAY_ALLOWED_HOSTS"] = "127.0.0.1"  # the sandbox stands in for iQSMS
    ann = make_person("ann@example.com")
    team = team_of(app, ann)
    secret = "s3cret-Pa55word"
    sandbox.control(
        "POST", "/accounts", json={"login": "acme", "password": secret, "balance": "42.50"}
    )
    saved = ann.post(
        "/team/gateway",
        {"mode": "iqsms", "login": "acme", "password": secret, "url": sandbox.base_url},
    )
    assert saved.status_code == 302
    with app.app_context():
        raw = db.session.execute(
            sa.text("SELECT gateway_password_encrypted FROM teams WHERE id = :id"), {"id": team.id}
        ).scalar_one()
        assert secret.encode() not in bytes(raw)
        assert app.config["ENCRYPTION_KEY"] != app.config["SECRET_KEY"]
        stored = db.session.get(Team, team.id)
        assert gateways.decrypt_secret(app.config, stored.gateway_password_encrypted) == secret
        assert gateways.client_for(app.config, stored).balance()[0].balance == 42.5
        dump = "\n".join(
            str(row) for row in db.session.execute(sa.text("SELECT * FROM teams")).all()
        )
        assert secret not in dump
    page = ann.get("/team/gateway").get_data(as_text=True)
    assert secret not in page
    assert "A password is saved. Leave this empty to keep it." in page
    assert 'value="acme"' in page

    # Saving with the password left empty keeps it.
    ann.post(
        "/team/gateway", {"mode": "iqsms", "login": "acme", "password": "", "url": sandbox.base_url}
    )
    with app.app_context():
        assert (
            gateways.decrypt_secret(
                app.config, db.session.get(Team, team.id).gateway_password_encrypted
            )
            == secret
        )
        event = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "gateway_changed")
        ).first()
        assert event.details["login"] == "acme" and secret not in str(event.details)


def test_test_connection_speaks_plain_words(app, make_person, sandbox, unused_port):
    app.config["GATEWAY_ALLOWED_HOSTS"] = "127.0.0.1"  # the sandbox stands in for iQSMS
    ann = make_person("ann@example.com")
    sandbox.control(
        "POST", "/accounts", json={"login": "acme", "password": "right", "balance": "7"}
    )

    def check(**form):
        return ann.post("/team/gateway/test", {"mode": "iqsms", **form}).get_data(as_text=True)

    ok = check(login="acme", password="right", url=sandbox.base_url)
    assert "Connected." in ok and "7.00" in ok
    assert "refused the login or password" in check(
        login="acme", password="wrong", url=sandbox.base_url
    )
    unreachable = check(login="acme", password="right", url=f"http://127.0.0.1:{unused_port}/v2/")
    assert "Could not connect to" in unreachable
    sandbox.set_faults(latency_ms=1500)
    app.config["GATEWAY_INTERACTIVE_TIMEOUT"] = 0.3
    assert "did not answer properly" in check(login="acme", password="right", url=sandbox.base_url)
    sandbox.set_faults(error_reply=1.0, error_description="service maintenance")
    assert "The gateway answered with an error: service maintenance." in check(
        login="acme", password="right", url=sandbox.base_url
    )
    # Testing changes nothing that is saved.
    assert team_of(app, ann).gateway_mode == "sandbox"


def test_form_errors_keep_what_was_typed(app, make_person):
    ann = make_person("ann@example.com")
    response = ann.post(
        "/team/gateway", {"mode": "iqsms", "login": "acme", "password": "", "url": ""}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Enter the iQSMS password." in html and 'value="acme"' in html
    bad_url = ann.post(
        "/team/gateway", {"mode": "iqsms", "login": "acme", "password": "p", "url": "nope"}
    )
    assert "Enter a full URL." in bad_url.get_data(as_text=True)


def test_switching_back_to_the_sandbox(app, make_person, sandbox):
    app.config["SANDBOX_URL"] = sandbox.base_url
    ann = make_person("ann@example.com")
    ann.post(
        "/team/gateway",
        {
            "mode": "iqsms",
            "login": "x",
            "password": "y",
            "url": "https://api.iqsms.ru/messages/v2/",
        },
    )
    assert team_of(app, ann).gateway_mode == "iqsms"
    ann.post("/team/gateway", {"mode": "sandbox"})
    team = team_of(app, ann)
    assert team.gateway_mode == "sandbox" and team.sandbox_account_ready
    with app.app_context():
        assert gateways.client_for(app.config, db.session.get(Team, team.id)).version() == 2


def test_a_reset_sandbox_gets_the_account_again(make_app, sandbox, tmp_path):

    app = make_app(SANDBOX_URL=sandbox.base_url)
    client = app.test_client()
    post_form(client, "/signup", {"email": "ann@example.com", "password": "long enough pw"})
    with sandbox.gateway.store.transaction() as state:  # as if the sandbox state were wiped
        state.execute("DELETE FROM senders")
        state.execute("DELETE FROM accounts WHERE login != 'demo'")
    html = client.get("/team/gateway").get_data(as_text=True)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1)
    result = client.post(
        "/team/gateway/test", data={"mode": "sandbox"}, headers={"X-CSRFToken": token}
    )
    assert "Connected." in result.get_data(as_text=True)
