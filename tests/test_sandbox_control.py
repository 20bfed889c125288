"""The sandbox's control API is not public (issue 11, item 1), and its state is its owner's only
(item 11): off without a token, standalone and mounted by `flask serve`; the token checked in
constant time; JSON only; a team sees and tops up its own sandbox account only through the
dashboard, as owner or admin; passwords kept as salted hashes; the state file private."""

from __future__ import annotations

import hmac
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from werkzeug.serving import make_server

from tests.gateway_fixtures import start_sandbox
from tests.helpers import PASSWORD, post_form, sign_in, team_of, without_team
from webapp import cli as dashboard_cli
from webapp.config import ensure_sandbox_control_token
from webapp.domain import gateways
from webapp.extensions import db
from webapp.iqsms import OutgoingMessage
from webapp.models import AuditEvent, GatewayMode, Team
from webapp.sandbox import Settings, create_sandbox_app
from webapp.sandbox.cli import QuietHandler
from webapp.sandbox.store import Store

ROOT = Path(__file__).resolve().parent.parent
PAGE = "/team/gateway/sandbox"
TOP_UP = "/team/gateway/sandbox/top-up"


def serve_http(wsgi_app: Any) -> Iterator[str]:
    """``wsgi_app`` on a free loopback port, over real HTTP: yields its root URL."""
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True, request_handler=QuietHandler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        server.server_close()


def control_routes(app: Any) -> list[tuple[str, str]]:
    """Every (method, path) of the sandbox app's control API, with sample path arguments."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("sandbox_control."):
            path = rule.rule.replace("<login>", "demo")
            routes += [(method, path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return routes


def call_every_route(root: str, routes: list[tuple[str, str]], **kwargs: Any) -> set[int]:
    return {
        requests.request(
            method, f"{root}{path}", json={"balance": "1"}, timeout=5, **kwargs
        ).status_code
        for method, path in routes
    }


# -- off without a token ---------------------------------------------------------------------------


def test_without_a_token_every_control_route_of_the_sandbox_is_404(tmp_path):
    app = create_sandbox_app(str(tmp_path / "sandbox.sqlite3"), Settings())
    routes = control_routes(app)
    assert len(routes) >= 7  # overview, accounts (add, read, change, top up, messages), faults...
    for root in serve_http(app):
        assert call_every_route(root, routes) == {404}
        assert call_every_route(root, routes, headers={"X-Sandbox-Token": ""}) == {404}
        assert call_every_route(root, routes, headers={"X-Sandbox-Token": "None"}) == {404}
        # Answered like a path that does not exist: nothing tells a control API is there.
        nothing = requests.get(f"{root}/_nothing/", timeout=5)
        assert requests.get(f"{root}/_sandbox/", timeout=5).text == nothing.text
        # The protocol itself still answers.
        reply = requests.post(
            f"{root}/messages/v2/balance.json",
            json={"login": "demo", "password": "demo"},
            timeout=5,
        )
        assert reply.json()["status"] == "ok"


def test_flask_sandbox_serve_keeps_the_control_api_off_without_a_token(tmp_path):
    def start(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        command = [sys.executable, "-m", "flask", "sandbox", "serve", "--port", str(port)]
        process = subprocess.Popen(
            [*command, "--quiet"],
            cwd=ROOT,
            env={**env, "IQSMS_INSTANCE_PATH": str(tmp_path / f"i{port}")},
            stdout=subprocess.DEVNULL,
        )
        root = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(root, timeout=1)
                return process, root
            except requests.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    process.kill()
                    raise
                time.sleep(0.1)

    plain_env = {k: v for k, v in os.environ.items() if not k.startswith("IQSMS_")}
    process, root = start(plain_env)
    try:
        assert requests.get(f"{root}/_sandbox/", timeout=5).status_code == 404
    finally:
        process.terminate()
        process.wait(10)
    process, root = start({**plain_env, "IQSMS_SANDBOX_CONTROL_TOKEN": "from-the-environment"})
    try:
        assert requests.get(f"{root}/_sandbox/", timeout=5).status_code == 404
        opened = requests.get(
            f"{root}/_sandbox/", headers={"X-Sandbox-Token": "from-the-environment"}, timeout=5
        )
        assert opened.status_code == 200
    finally:
        process.terminate()
        process.wait(10)


# -- mounted by `flask serve` ----------------------------------------------------------------------


@pytest.fixture
def served(make_app):
    """The dashboard with the sandbox mounted as `flask serve` mounts it (webapp.cli's
    with_sandbox), over real HTTP, with no SANDBOX_URL or SANDBOX_CONTROL_TOKEN given: the
    out-of-the-box setup. Yields (app, root URL)."""
    app = make_app(from_environment=("SANDBOX_URL", "SANDBOX_CONTROL_TOKEN"))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    server.app = dashboard_cli.with_sandbox(app, "127.0.0.1", server.port)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield app, f"http://127.0.0.1:{server.port}"
    server.shutdown()
    server.server_close()
    server.app.mounts["/sandbox"].extensions["iqsms_sandbox"].store.close()


def test_serve_generates_a_private_token_shared_through_the_instance_folder(make_app, served):
    app, _root = served
    token_file = Path(app.instance_path) / "sandbox_control_token"
    assert app.config["SANDBOX_CONTROL_TOKEN"] == token_file.read_text().strip()
    assert len(app.config["SANDBOX_CONTROL_TOKEN"]) >= 32
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    # A `flask worker` on the same instance folder provisions with the same token.
    worker = make_app(from_environment=("SANDBOX_URL", "SANDBOX_CONTROL_TOKEN"))
    assert worker.config["SANDBOX_CONTROL_TOKEN"] == app.config["SANDBOX_CONTROL_TOKEN"]
    assert ensure_sandbox_control_token(worker) == app.config["SANDBOX_CONTROL_TOKEN"]


def test_a_worker_started_first_makes_the_token_serve_then_uses(make_app, tmp_path):
    worker = make_app(from_environment=("SANDBOX_URL", "SANDBOX_CONTROL_TOKEN"))
    assert worker.config["SANDBOX_CONTROL_TOKEN"] is None  # nothing generated by merely loading
    token = ensure_sandbox_control_token(worker)
    web = make_app(from_environment=("SANDBOX_URL", "SANDBOX_CONTROL_TOKEN"))
    assert web.config["SANDBOX_CONTROL_TOKEN"] == token
    mounted = dashboard_cli.with_sandbox(web, "127.0.0.1", 5000).mounts["/sandbox"]
    assert mounted.extensions["iqsms_sandbox"].settings.control_token == token
    mounted.extensions["iqsms_sandbox"].store.close()


def test_the_mounted_control_api_needs_the_token_the_serve_wiring_passes(served):
    app, root = served
    sandbox_app = create_sandbox_app(app.config["SANDBOX_STATE_PATH"], Settings())
    routes = [(m, f"/sandbox{path}") for m, path in control_routes(sandbox_app)]
    sandbox_app.extensions["iqsms_sandbox"].store.close()
    assert call_every_route(root, routes) == {404}
    assert call_every_route(root, routes, headers={"X-Sandbox-Token": "guess"}) == {404}
    token = {"X-Sandbox-Token": app.config["SANDBOX_CONTROL_TOKEN"]}
    listed = requests.get(f"{root}/sandbox/_sandbox/", headers=token, timeout=5)
    assert listed.status_code == 200 and "demo" in {a["login"] for a in listed.json()["accounts"]}
    # The dashboard provisions a new team's account through the mounted sandbox, token and all.
    assert app.config["SANDBOX_URL"] == f"{root}/sandbox/messages/v2/"
    client = app.test_client()
    assert (
        post_form(client, "/signup", {"email": "ann@example.com", "password": PASSWORD}).status_code
        == 302
    )
    with app.app_context():
        team = db.session.scalars(sa.select(Team)).one()
        assert team.sandbox_account_ready
        assert gateways.client_for(app.config, team).balance()[0].balance == 1000


# -- the token, JSON only --------------------------------------------------------------------------


def test_a_wrong_token_is_404_and_compared_in_constant_time(sandbox, monkeypatch):
    compared: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def compare_digest(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr("webapp.sandbox.views.hmac.compare_digest", compare_digest)
    token = sandbox.gateway.settings.control_token
    url = f"{sandbox.root}/_sandbox/"
    for wrong in (token[:-1], token + "x", token.upper(), "é" * 5):
        response = requests.get(url, headers={"X-Sandbox-Token": wrong.encode()}, timeout=5)
        assert response.status_code == 404
        assert "demo" not in response.text
    assert requests.get(url, headers={"X-Sandbox-Token": token}, timeout=5).status_code == 200
    assert len(compared) == 5 and compared[-1] == (token.encode(), token.encode())


def test_writes_take_json_only_and_no_cors(sandbox):
    headers = {"X-Sandbox-Token": sandbox.gateway.settings.control_token}
    url = f"{sandbox.root}/_sandbox/accounts/demo"
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        response = requests.patch(
            url,
            data=b'{"balance": "999999"}',
            headers={**headers, "Content-Type": content_type},
            timeout=5,
        )
        assert response.status_code == 415, content_type
    assert sandbox.control("GET", "/accounts/demo").json()["balance"] == "1000.00"
    preflight = requests.options(
        url,
        headers={
            **headers,
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "PATCH",
        },
        timeout=5,
    )
    assert not any(h.lower().startswith("access-control-") for h in preflight.headers)


# -- passwords and the state file ------------------------------------------------------------------


def test_passwords_are_stored_as_salted_hashes(sandbox):
    sandbox.control("POST", "/accounts", json={"login": "t1", "password": "same-secret"})
    sandbox.control("POST", "/accounts", json={"login": "t2", "password": "same-secret"})
    sandbox.control("PATCH", "/accounts/demo", json={"password": "a-new-one"})
    with sqlite3.connect(sandbox.gateway.store.path) as state:
        stored = dict(state.execute("SELECT login, password FROM accounts"))
    assert not {"same-secret", "a-new-one", "demo2", "credit"} & set(stored.values())
    assert stored["t1"] != stored["t2"]  # salted
    assert all(value.startswith("hmac-sha256$") for value in stored.values())
    assert sandbox.client("t1", "same-secret").balance()
    assert sandbox.client("demo", "a-new-one").balance()
    refused = requests.post(
        f"{sandbox.base_url}balance.json", json={"login": "demo", "password": "demo"}, timeout=5
    )
    assert refused.json()["description"] == "error authorization"


def test_a_state_file_with_plain_passwords_is_migrated_on_load(tmp_path, sandbox_clock):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:  # as the sandbox wrote it before hashing
        old.execute(
            "CREATE TABLE accounts (login TEXT PRIMARY KEY, password TEXT NOT NULL, billing TEXT"
            " NOT NULL DEFAULT 'RUB', rub_kopecks INTEGER NOT NULL DEFAULT 0, rub_credit_kopecks"
            " INTEGER NOT NULL DEFAULT 0, sms_balance INTEGER NOT NULL DEFAULT 0, sms_credit"
            " INTEGER NOT NULL DEFAULT 0, price_kopecks INTEGER NOT NULL DEFAULT 250)"
        )
        old.execute(
            "INSERT INTO accounts (login, password, rub_kopecks) VALUES ('old', 'pw1', 500)"
        )
    running = start_sandbox(str(path), Settings(), sandbox_clock)
    try:
        with sqlite3.connect(path) as state:
            (stored,) = state.execute(
                "SELECT password FROM accounts WHERE login = 'old'"
            ).fetchone()
        assert stored != "pw1" and stored.startswith("hmac-sha256$")
        assert running.client("old", "pw1").balance()[0].balance == 5
    finally:
        running.server.shutdown()
        running.server.server_close()
        running.gateway.store.close()
    Store(str(path)).close()  # opening it again hashes nothing twice
    with sqlite3.connect(path) as state:
        assert state.execute("SELECT password FROM accounts WHERE login = 'old'").fetchone() == (
            stored,
        )


def test_the_state_file_and_its_folder_are_the_owners_only(tmp_path):
    path = tmp_path / "new-folder" / "sandbox.sqlite3"
    app = create_sandbox_app(str(path), Settings())
    store = app.extensions["iqsms_sandbox"].store
    try:
        for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            if name.exists():
                assert stat.S_IMODE(name.stat().st_mode) == 0o600, name
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    finally:
        store.close()
    loose = tmp_path / "loose.sqlite3"
    loose.touch(mode=0o644)
    os.chmod(loose, 0o644)
    Store(str(loose)).close()
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600


# -- the team's own account, through the dashboard -------------------------------------------------


def login_of(app, team_id: int) -> str:
    with app.app_context():
        return db.session.get(Team, team_id).gateway_login


def test_the_page_shows_the_teams_own_account_only(app, sandbox, team, make_person):
    bob = make_person("bob@example.com")
    bob_team = team_of(app, bob)
    with app.app_context():
        for owner, text in ((team, "Ann's own message"), (bob_team, "Bob's secret message")):
            row = db.session.get(Team, owner.id)
            gateways.client_for(app.config, row).send(
                [OutgoingMessage("1", "79161234567", text, sender="MyBrand")]
            )
    ann = app.test_client()
    sign_in(ann, "ann@example.com")
    html = ann.get(PAGE).get_data(as_text=True)
    assert "Ann&#39;s own message" in html or "Ann's own message" in html
    assert "1,000.00" not in html and "997.50" in html  # one part at 2.50
    assert "Bob" not in html.replace("Bob's", "")  # nothing of Bob's team
    assert "secret message" not in html
    assert login_of(app, bob_team.id) not in html
    # The status in words, as the campaign page says it, in the reader's language.
    assert "<td>taken by the service (accepted)</td>" in html
    russian = ann.get(PAGE, headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert "<td>принято сервисом (accepted)</td>" in russian
    # The login comes from the team, never from the request.
    for query in (f"?login={login_of(app, bob_team.id)}", "?account=demo"):
        assert "secret message" not in ann.get(PAGE + query).get_data(as_text=True)
    settings = ann.get("/team/gateway").get_data(as_text=True)
    assert 'data-testid="sandbox-account-link"' in settings and PAGE in settings


def test_the_page_pages_through_older_messages(app, sandbox, team):
    with app.app_context():
        client = gateways.client_for(app.config, db.session.get(Team, team.id))
        client.send([OutgoingMessage(str(i), "79161234567", f"Message {i:02d}") for i in range(60)])
    ann = app.test_client()
    sign_in(ann, "ann@example.com")
    first = ann.get(PAGE).get_data(as_text=True)
    assert "Message 59" in first and "Message 10" in first and "Message 09" not in first
    older = [m["smscId"] for m in sandbox.received(login_of(app, team.id))][10]
    second = ann.get(f"{PAGE}?before={older}").get_data(as_text=True)
    assert "Message 09" in second and "Message 00" in second and "Message 10" not in second


def test_a_top_up_lands_in_the_sandbox_balance_and_the_audit_log(app, sandbox, team):
    ann = app.test_client()
    sign_in(ann, "ann@example.com")
    response = post_form(ann, TOP_UP, {"amount": "1 234,50"})
    assert response.status_code == 302
    login = login_of(app, team.id)
    assert sandbox.control("GET", f"/accounts/{login}").json()["balance"] == "2234.50"
    assert "2,234.50" in ann.get(PAGE).get_data(as_text=True)
    with app.app_context():
        event = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "sandbox_topped_up")
        ).one()
        assert event.team_id == team.id
        assert event.details == {"amount": "1234.50", "balance": "2234.50"}
    for too_much in ("100 000,01", "0", "-5", "lots", ""):
        refused = post_form(ann, TOP_UP, {"amount": too_much})
        assert refused.status_code == 400, too_much
    assert post_form(ann, TOP_UP, {"amount": "100 000"}).status_code == 302  # the most at once
    assert sandbox.control("GET", f"/accounts/{login}").json()["balance"] == "102234.50"


@pytest.mark.parametrize("role", ["sender", "viewer"])
def test_senders_and_viewers_cannot_see_or_top_up(app, sandbox, team, make_person, role):
    member = make_person(f"{role}@example.com", team=team.id, role=role)
    assert member.get(PAGE).status_code == 403
    assert member.post(TOP_UP, {"amount": "500"}).status_code == 403
    assert sandbox.control("GET", f"/accounts/{login_of(app, team.id)}").json()["balance"] == (
        "1000.00"
    )
    assert 'data-testid="sandbox-account-link"' not in member.get("/team/gateway").get_data(
        as_text=True
    )


def test_a_team_on_its_own_iqsms_account_has_no_sandbox_page(app, sandbox, team):
    with app.app_context():
        row = db.session.get(Team, team.id)
        gateways.use_iqsms(app.config, row, "", "acme", "the iqsms password")
        db.session.commit()
        assert row.gateway_mode == GatewayMode.IQSMS
    ann = app.test_client()
    sign_in(ann, "ann@example.com")
    for response in (ann.get(PAGE), post_form(ann, TOP_UP, {"amount": "5"})):
        assert response.status_code == 302
        assert without_team(response.headers["Location"]) == "/team/gateway"
    assert PAGE not in ann.get("/team/gateway").get_data(as_text=True)
