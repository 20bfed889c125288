"""Calls a person waits for ("Test connection", "Refresh now", the sender sync) against a slow
gateway: they end at their deadline, hold no database connection while they wait, and run one
at a time per team with a cooldown. The app is served on a real threaded server with a small
database pool; the gateway is the dripping server of tests/slow_server.py."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from werkzeug.serving import make_server

from tests.helpers import CSRF_TOKEN, PASSWORD, team_of
from tests.slow_server import dripping_server
from webapp.config import Defaults
from webapp.domain import gateways
from webapp.extensions import db
from webapp.models import Team

DEADLINE = 3.0
SLACK = 6.0  # a loaded 2-core machine, 33 requests at once
TEAMS = 16


@pytest.fixture
def app(make_app):
    """The app with a database pool of two connections that waits 2 s at most for one."""
    return make_app(
        SQLALCHEMY_ENGINE_OPTIONS={
            **Defaults.SQLALCHEMY_ENGINE_OPTIONS,
            "pool_size": 2,
            "max_overflow": 0,
            "pool_timeout": 2,
        },
        GATEWAY_ALLOWED_HOSTS="127.0.0.1",
        GATEWAY_INTERACTIVE_TIMEOUT=DEADLINE,
        GATEWAY_INTERACTIVE_COOLDOWN=60,
    )


@pytest.fixture
def served(app):
    """The app on a real threaded HTTP server on loopback: its root URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()
    server.server_close()
    thread.join(5)


class Browser:
    """A signed-in person over real HTTP."""

    def __init__(self, root: str, email: str) -> None:
        self.root, self.http = root, requests.Session()
        token = CSRF_TOKEN.search(self.http.get(f"{root}/login", timeout=30).text).group(1)
        signed_in = self.http.post(
            f"{root}/login",
            data={"email": email, "password": PASSWORD, "csrf_token": token},
            allow_redirects=False,
            timeout=30,
        )
        assert signed_in.status_code == 302
        page = self.http.get(f"{root}/team/gateway", timeout=30).text
        self.token = CSRF_TOKEN.search(page).group(1)

    def post(self, path: str, data: dict) -> requests.Response:
        return self.http.post(
            self.root + path,
            data=data,
            headers={"X-CSRFToken": self.token, "HX-Request": "true"},
            timeout=60,
        )

    def get(self, path: str) -> requests.Response:
        return self.http.get(self.root + path, timeout=60)


def _on_gateway(app, person, url: str) -> None:
    with app.app_context():
        team = db.session.get(Team, team_of(app, person).id)
        gateways.use_iqsms(app.config, team, url, "demo", "demo")
        db.session.commit()


def _saved_test(browser: Browser, url: str) -> tuple[str, float]:
    started = time.monotonic()
    form = {"mode": "iqsms", "login": "demo", "password": "", "url": url}
    text = browser.post("/team/gateway/test", form).text
    return text, time.monotonic() - started


def test_a_slow_gateway_cannot_take_the_pool_and_one_team_gets_one_call(
    app, served, make_person
) -> None:
    with dripping_server(1.0) as slow:
        people = [make_person(f"p{i}@example.com") for i in range(TEAMS + 1)]
        bystander = make_person("bystander@example.com")  # on the sandbox, not testing
        for person in people:
            _on_gateway(app, person, slow.base_url)
        browsers = [Browser(served, p.email) for p in people]
        watcher = Browser(served, bystander.email)
        many, repeated = browsers[:TEAMS], browsers[TEAMS]

        with ThreadPoolExecutor(TEAMS * 2 + 1) as pool:
            calls = [pool.submit(_saved_test, b, slow.base_url) for b in many]
            calls += [pool.submit(_saved_test, repeated, slow.base_url) for _ in range(TEAMS)]
            time.sleep(DEADLINE / 2)  # every call is waiting for the gateway now
            health = requests.get(f"{served}/healthz", timeout=30)
            page = watcher.get("/senders")
            results = [c.result(timeout=120) for c in calls]

        assert health.status_code == 200
        assert page.status_code == 200 and "bystander" in page.text.lower()
        for text, took in results[:TEAMS]:
            assert "did not answer properly (no complete reply in time)" in text
            assert took <= DEADLINE + SLACK
        ran = [text for text, _ in results[TEAMS:] if "no complete reply in time" in text]
        assert len(ran) == 1
        for text, _took in results[TEAMS:]:
            if text not in ran:
                assert "A check is already running" in text or "Try again in" in text
        assert slow.requests == TEAMS + 1  # the repeated team reached the gateway once

        # Within the cooldown, the team gets a clear answer at once, without a call.
        again, _ = _saved_test(repeated, slow.base_url)
        assert "Try again in" in again
        assert slow.requests == TEAMS + 1


@pytest.mark.parametrize(
    ("path", "form"),
    [("/balance/refresh", {}), ("/senders/refresh", {}), ("/team/gateway/test", None)],
)
def test_every_interactive_call_is_limited_per_team(app, served, make_person, path, form):
    app.config["GATEWAY_INTERACTIVE_TIMEOUT"] = 1.5
    with dripping_server(1.0) as slow:
        ann = make_person("ann@example.com")
        _on_gateway(app, ann, slow.base_url)
        browser = Browser(served, ann.email)
        data = (
            form if form is not None else {"mode": "iqsms", "login": "demo", "url": slow.base_url}
        )
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: browser.post(path, data), range(4)))
        assert all(a.status_code in (200, 303) for a in answers)
        assert slow.requests == 1
        after = browser.post(path, data)
        shown = after.text + browser.get("/senders" if "senders" in path else "/balance").text
        assert "Try again in" in shown
        assert slow.requests == 1
