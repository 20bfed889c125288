"""The gateway URL policy (a team's gateway URL cannot reach inside) and the saved password
(it goes only to the URL it was saved for). Real servers on loopback stand in for internal
services and for a stranger's server."""

from __future__ import annotations

import ipaddress
import socket
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.canned_server import canned_server, json_reply
from tests.helpers import PASSWORD, post_form, team_of
from webapp.domain import gateways
from webapp.extensions import db
from webapp.iqsms import Client
from webapp.iqsms.errors import AddressRefused
from webapp.iqsms.policy import GatewayPolicy, public_address
from webapp.jobs import balance as balance_job
from webapp.models import Team

BALANCE = {"status": "ok", "balance": [{"type": "RUB", "balance": "7.00", "credit": "0"}]}


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.1.2.3",
        "::1",
        "::ffff:127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "fd00:ec2::254",
        "fe80::1",
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "ff02::1",
        "240.0.0.1",
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
    ],
)
def test_inside_addresses_are_not_public(address: str) -> None:
    assert not public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "2a00:1450:4010:c0e::64"])
def test_public_addresses_are(address: str) -> None:
    assert public_address(ipaddress.ip_address(address))


def _resolves(name: str) -> bool:
    try:
        socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return True


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "0x7f.1", "2130706433", "0177.0.0.1", "[::ffff:127.0.0.1]", "localhost"]
)
def test_a_name_allowed_as_public_that_resolves_inside_is_refused_at_connect(host: str) -> None:
    # As if the iQSMS API's name (or one rebound by DNS) answered with a loopback address:
    # the address is checked after resolution, so the listening server gets nothing.
    if not _resolves(host.strip("[]")):
        pytest.skip(f"this resolver does not read {host}")
    with canned_server(lambda r: json_reply(BALANCE)) as inside:
        policy = GatewayPolicy(public=frozenset({host.strip("[]").lower()}))
        url = f"https://{host}:{inside.server.port}/messages/v2/"
        with pytest.raises(AddressRefused):
            Client("demo", "demo", url, policy=policy, deadline=5).balance()
        assert inside.received == []


def test_hosts_not_allowed_are_refused_before_resolving() -> None:
    with canned_server(lambda r: json_reply(BALANCE)) as inside:
        url = f"http://127.0.0.1:{inside.server.port}/messages/v2/"
        with pytest.raises(AddressRefused):
            Client("demo", "demo", url, policy=GatewayPolicy(), deadline=5).balance()
        allowed = GatewayPolicy.of(f"127.0.0.1:{inside.server.port}")
        assert Client("demo", "demo", url, policy=allowed).balance()[0].type == "RUB"
        assert len(inside.received) == 1


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8080/messages/v2/", "not an allowed gateway"),
        ("http://2130706433/messages/v2/", "not an allowed gateway"),
        ("http://169.254.169.254/latest/meta-data/", "not an allowed gateway"),
        ("http://[::1]:5050/messages/v2/", "not an allowed gateway"),
        ("http://10.0.0.5/messages/v2/", "not an allowed gateway"),
        ("http://api.iqsms.ru/messages/v2/", "over https only"),
        ("https://user:pw@api.iqsms.ru/messages/v2/", "Enter a full URL."),
    ],
)
def test_the_form_refuses_a_url_beside_the_field(app, make_person, url: str, reason: str) -> None:
    ann = make_person("ann@example.com")
    response = ann.post(
        "/team/gateway", {"mode": "iqsms", "login": "acme", "password": "pw", "url": url}
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert reason in html
    assert team_of(app, ann).gateway_mode == "sandbox"


def test_the_iqsms_api_the_sandbox_and_listed_hosts_are_allowed(app, make_person) -> None:
    ann = make_person("ann@example.com")

    def save(url: str) -> int:
        data = {"mode": "iqsms", "login": "acme", "password": "pw", "url": url}
        return ann.post("/team/gateway", data).status_code

    assert save("https://api.iqsms.ru/messages/v2/") == 302
    assert save(app.config["SANDBOX_URL"]) == 302  # 127.0.0.1:9, the app's own sandbox
    # The sandbox's host for the sandbox's API only: under `flask serve` it is the dashboard.
    assert save("http://127.0.0.1:9/team/members?x=") == 400
    assert save("https://127.0.0.1:9/") == 400
    assert save("http://10.0.0.5:8000/messages/v2/") == 400
    app.config["GATEWAY_ALLOWED_HOSTS"] = "gw.internal.example, 10.0.0.5:8000"
    assert save("http://10.0.0.5:8000/messages/v2/") == 302
    assert save("http://10.0.0.5:8001/messages/v2/") == 400
    assert save("https://GW.Internal.Example/messages/v2/") == 302


def test_the_worker_does_not_connect_to_a_url_saved_before_the_policy(app, team) -> None:
    with canned_server(lambda r: json_reply(BALANCE)) as inside:
        with app.app_context():
            stored = db.session.get(Team, team.id)
            gateways.use_iqsms(app.config, stored, "https://api.iqsms.ru/messages/v2/", "a", "b")
            stored.gateway_url = inside.base_url  # written before the policy existed
            db.session.commit()
            now = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
            failures = balance_job.snapshot_due_teams(
                db.session, lambda: now, gateways.client_factory(app.config), timedelta(hours=1)
            )
        assert "not an allowed gateway" in failures[team.id]
        assert inside.received == []


def test_test_connection_cannot_tell_open_from_closed_ports(app, make_person, unused_port) -> None:
    ann = make_person("ann@example.com")

    def check(url: str) -> str:
        form = {"mode": "iqsms", "login": "acme", "password": "pw", "url": url}
        return ann.post("/team/gateway/test", form).get_data(as_text=True)

    with canned_server(lambda r: json_reply({"status": "ok", "internal": "x"})) as inside:
        open_port = check(inside.base_url)
        assert inside.received == []
    closed_port = check(f"http://127.0.0.1:{unused_port}/messages/v2/")
    assert open_port.replace(str(inside.server.port), "P") == closed_port.replace(
        str(unused_port), "P"
    )
    assert "not an allowed gateway" in open_port


def test_test_connection_does_not_echo_another_services_reply(app, make_person) -> None:
    reply = {"status": "ok", "users": [{"name": "root", "token": "internal-secret-42"}]}
    with canned_server(lambda r: json_reply(reply)) as service:
        app.config["GATEWAY_ALLOWED_HOSTS"] = f"127.0.0.1:{service.server.port}"
        ann = make_person("ann@example.com")
        form = {"mode": "iqsms", "login": "acme", "password": "pw", "url": service.base_url}
        html = ann.post("/team/gateway/test", form).get_data(as_text=True)
    assert "does not answer like an iQSMS API" in html
    assert "internal-secret-42" not in html and "root" not in html


def _saved_on(app, ann, url: str, password: str = "the-real-password") -> None:
    data = {"mode": "iqsms", "login": "acme", "password": password, "url": url}
    assert ann.post("/team/gateway", data).status_code == 302


def test_testing_a_new_url_with_an_empty_password_never_sends_the_saved_one(
    app, make_person
) -> None:
    app.config["GATEWAY_ALLOWED_HOSTS"] = "127.0.0.1"
    with (
        canned_server(lambda r: json_reply(BALANCE)) as saved,
        canned_server(lambda r: json_reply(BALANCE)) as stranger,
    ):
        ann = make_person("ann@example.com")
        _saved_on(app, ann, saved.base_url)

        def check(url: str, login: str = "acme") -> str:
            form = {"mode": "iqsms", "login": login, "password": "", "url": url}
            return ann.post("/team/gateway/test", form).get_data(as_text=True)

        assert "Connected." in check(saved.base_url)  # its own URL: the saved one is used
        assert saved.passwords == ["the-real-password"]
        assert "Enter the iQSMS password" in check(stranger.base_url)
        assert "Enter the iQSMS password" in check(saved.base_url, login="other")
        assert stranger.received == []
        assert len(saved.received) == 1


def test_changing_the_url_or_login_needs_the_password_again(app, make_person) -> None:
    app.config["GATEWAY_ALLOWED_HOSTS"] = "127.0.0.1"
    ann = make_person("ann@example.com")
    _saved_on(app, ann, "http://127.0.0.1:8001/messages/v2/")

    def save(**changes: str):
        data = {"mode": "iqsms", "login": "acme", "password": "", **changes}
        data.setdefault("url", "http://127.0.0.1:8001/messages/v2/")
        return ann.post("/team/gateway", data)

    assert save().status_code == 302  # nothing changed: the saved password stays
    moved = save(url="http://127.0.0.1:8002/messages/v2/")
    assert moved.status_code == 400
    assert "Enter the iQSMS password again" in moved.get_data(as_text=True)
    assert save(login="someone-else").status_code == 400
    with app.app_context():
        url = db.session.scalar(sa.select(Team.gateway_url).where(Team.id == team_of(app, ann).id))
    assert url == "http://127.0.0.1:8001/messages/v2/"
    assert save(url="http://127.0.0.1:8002/messages/v2/", password="new").status_code == 302


def test_the_gateway_settings_are_read_from_the_environment(make_app, monkeypatch) -> None:
    with canned_server(lambda r: json_reply({**BALANCE, "pad": "x" * 5000})) as gateway:
        monkeypatch.setenv("IQSMS_GATEWAY_ALLOWED_HOSTS", f"127.0.0.1:{gateway.server.port}")
        monkeypatch.setenv("IQSMS_GATEWAY_DEADLINE", "7.5")
        monkeypatch.setenv("IQSMS_GATEWAY_MAX_REPLY_BYTES", "4096")
        monkeypatch.setenv("IQSMS_GATEWAY_INTERACTIVE_COOLDOWN", "30")
        app = make_app(from_environment=("GATEWAY_INTERACTIVE_COOLDOWN",))
        with app.app_context():
            team = Team(name="T", status_queue_name="qenvironment0001")
            gateways.use_iqsms(app.config, team, gateway.base_url, "demo", "demo")
            client = gateways.client_for(app.config, team)
            assert client.deadline == 7.5
            assert "too large" in gateways.check_connection(client).message

        monkeypatch.setenv("IQSMS_GATEWAY_MAX_REPLY_BYTES", str(4 * 1024 * 1024))
        browser = make_app(from_environment=("GATEWAY_INTERACTIVE_COOLDOWN",)).test_client()
        post_form(browser, "/signup", {"email": "bob@example.com", "password": PASSWORD})
        form = {"mode": "iqsms", "login": "demo", "password": "pw", "url": gateway.base_url}
        assert "Connected." in post_form(browser, "/team/gateway/test", form).text
        assert "Try again in 30 s" in post_form(browser, "/team/gateway/test", form).text
        assert len(gateway.received) == 2


def test_the_allowed_hosts_setting_reads_hosts_and_ports_and_skips_mistakes() -> None:
    policy = GatewayPolicy.of("GW.example, 10.0.0.5:8000, [::1]:5050, bad:port:x", ["h:1"])
    assert policy.explicitly_allowed("gw.example", 443)
    assert policy.explicitly_allowed("10.0.0.5", 8000)
    assert not policy.explicitly_allowed("10.0.0.5", 8001)
    assert policy.explicitly_allowed("::1", 5050) and policy.explicitly_allowed("h", 1)
    assert policy.url_problem("https://api.iqsms.ru/messages/v2/") is None
