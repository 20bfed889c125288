"""Operations over HTTP: /healthz, /readyz and /metrics, the workers' heartbeat, and log lines
with the request id, the team and the campaign (in JSON when asked), gunicorn's included."""

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask_babel import force_locale
from flask_babel import gettext as _
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import assert_counters_match, campaign_row, make_campaign, states, tick
from webapp import iqsms, metrics
from webapp.app import create_app
from webapp.domain import gateways, operations, statuses
from webapp.extensions import db
from webapp.jobs import dispatch, heartbeat
from webapp.models import Campaign, CampaignState, Lease, MessageState, Team, utcnow
from webapp.views import health

TOKEN = "metrics-token-for-tests"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
RUSSIAN = {"Accept-Language": "ru"}
PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def no_counted_calls() -> None:
    """Calls earlier tests in this process counted are not this test's."""
    metrics._tally.take()


def _wait_for(condition: Callable[[], object], timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def _metrics(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def _reasons(app: Flask, locale: str) -> str:
    with app.test_request_context(), force_locale(locale):
        stale = int(app.config["WORKER_HEARTBEAT_STALE_SECONDS"])
        return _("No worker has reported in the last %(seconds)d s.", seconds=stale)


# -- /healthz and /readyz -------------------------------------------------------------------------


def test_healthz_answers_without_a_database_and_readyz_says_it_is_not_ready(
    unused_port: int, tmp_path: Path
) -> None:
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            # Nothing listens there: every connection is refused at once.
            "SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://nobody@127.0.0.1:{unused_port}/x",
            "METRICS_TOKEN": TOKEN,
        }
    )
    try:
        client = app.test_client()
        alive = client.get("/healthz")
        assert (alive.status_code, alive.json) == (200, {"status": "ok"})

        for headers in ({}, RUSSIAN, BEARER):
            ready = client.get("/readyz", headers=headers)
            assert ready.status_code == 503
            assert ready.json["status"] == "not ready"
            assert ready.json["problems"] == ["database"]
            assert "workers" not in ready.json and "teams" not in ready.json
        assert client.get("/readyz").json["reasons"] == ["The database does not answer."]
    finally:
        with app.app_context():
            db.engine.dispose()


def test_readyz_needs_a_fresh_worker_heartbeat(make_app: Callable[..., Flask]) -> None:
    app = make_app(METRICS_TOKEN=TOKEN)
    client = app.test_client()

    for headers, locale in (({}, "en"), (RUSSIAN, "ru")):
        waiting = client.get("/readyz", headers=headers)
        assert waiting.status_code == 503
        assert waiting.headers["Cache-Control"] == "no-store"
        assert waiting.json == {
            "status": "not ready",
            "problems": ["worker"],
            "reasons": [_reasons(app, locale)],
        }
    english = client.get("/readyz").json["reasons"]
    assert english == ["No worker has reported in the last 60 s."]

    heartbeat.run(app)  # the worker's tick
    ready = client.get("/readyz", headers=BEARER)
    assert (ready.status_code, ready.json) == (200, {"status": "ready", "workers": 1, "teams": []})
    # The public answer (cached by each process for a moment) follows, saying only that.
    public = _wait_for(lambda: client.get("/readyz").status_code == 200)
    assert public and client.get("/readyz").json == {"status": "ready"}

    # A worker that stopped beating a minute ago no longer counts.
    with app.app_context():
        db.session.execute(sa.update(Lease).values(expires_at=utcnow()))
        db.session.commit()
    stale = client.get("/readyz", headers=BEARER)
    assert (stale.status_code, stale.json["problems"]) == (503, ["worker"])


def test_public_readyz_asks_the_database_at_most_once_per_cache_period(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app()
    heartbeat.run(app)
    client = app.test_client()
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        started = time.monotonic()
        answers = {client.get("/readyz").status_code for _ in range(200)}
        took = time.monotonic() - started
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert answers == {200}
    rounds = 1 + int(took // health.READY_CACHE_SECONDS)
    assert 1 <= len(statements) <= rounds * 2  # the heartbeat count (and PG's statement_timeout)


def test_readyz_shows_each_active_teams_last_drain_to_the_operator_only(
    app: Flask, team: Team
) -> None:
    app.config["METRICS_TOKEN"] = TOKEN
    campaign_id = make_campaign(app, team, 3)
    tick(app)  # sent: accepted, statuses awaited from the team's queue
    heartbeat.run(app)
    client = app.test_client()

    never = client.get("/readyz", headers=BEARER).json
    assert never["teams"] == [{"team": team.id, "last_drain": None, "lag_seconds": None}]

    with app.app_context():
        report = statuses.DrainReport()
        statuses.drain_team_queue(
            db.session, team.id, utcnow, gateways.client_factory(app.config), 5, report
        )
        assert report.teams == 1
        assert db.session.get(Campaign, campaign_id).accepted == 3  # still on their way
    drained = client.get("/readyz", headers=BEARER).json
    (entry,) = drained["teams"]
    assert entry["team"] == team.id and 0 <= entry["lag_seconds"] < 60
    assert entry["last_drain"].startswith(str(utcnow().year))

    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        public = client.get("/readyz", headers=headers)
        assert public.json == {"status": "ready"}, headers


# -- /metrics -------------------------------------------------------------------------------------


def test_metrics_are_not_found_without_a_token_setting(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers=BEARER).status_code == 404


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}, {"Authorization": "Basic x"}],
)
def test_metrics_need_the_bearer_token(make_app: Callable[..., Flask], headers: dict) -> None:
    client = make_app(METRICS_TOKEN=TOKEN).test_client()
    for language in ({}, RUSSIAN):
        response = client.get("/metrics", headers={**headers, **language})
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert "iqsms_" not in response.get_data(as_text=True)
    assert client.get("/metrics", headers=headers).get_data(as_text=True) == (
        "A valid bearer token is needed."
    )


def test_metrics_count_messages_batches_and_gateway_calls(app: Flask, team: Team) -> None:
    app.config["METRICS_TOKEN"] = TOKEN
    client = app.test_client()
    campaign_id = make_campaign(app, team, 350)  # the sandbox account pays for 400
    # 200 a batch at most: two send.json calls or more (the send rate may split them).
    assert _wait_for(lambda: tick(app) and not states(app, campaign_id).get("queued"))

    before = _metrics(client)
    by_state = {
        labels[0][1]: value for (name, labels), value in before.items() if name == "iqsms_messages"
    }
    counted = states(app, campaign_id)  # the messages themselves, counted
    assert by_state == {state.value: counted.get(state.value, 0) for state in MessageState}
    assert sum(by_state.values()) == 350 and by_state["accepted"] == 350
    state = campaign_row(app, campaign_id).state
    campaigns = {k[1][0][1]: v for k, v in before.items() if k[0] == "iqsms_campaigns"}
    assert campaigns == {s.value: int(s == state) for s in CampaignState}
    assert before[("iqsms_workers_alive", ())] == 0
    # Counted in the worker until its heartbeat adds them to the database.
    assert ("iqsms_batches_sent_total", ()) in before
    assert before[("iqsms_batches_sent_total", ())] == 0

    heartbeat.run(app)
    after = _metrics(client)
    assert_counters_match(app, campaign_id)
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert after[("iqsms_messages", (("state", "accepted"),))] == campaign.accepted
    send = (("endpoint", "send.json"),)
    batches = after[("iqsms_batches_sent_total", ())]
    assert batches >= 2
    assert after[("iqsms_gateway_calls_total", (*send, ("outcome", "ok")))] == batches
    assert after[("iqsms_gateway_call_duration_seconds_count", send)] == batches
    assert after[("iqsms_gateway_call_duration_seconds_bucket", (*send, ("le", "+Inf")))] == batches
    assert 0 < after[("iqsms_gateway_call_duration_seconds_sum", send)] < batches * 45
    assert after[("iqsms_workers_alive", ())] == 1
    assert after[("iqsms_status_queue_active_teams", ())] == 1
    assert after[("iqsms_status_queue_never_drained_teams", ())] == 1

    # A gateway that cannot be reached: counted by outcome.
    app.config["SANDBOX_URL"] = "http://127.0.0.1:9/messages/v2/"
    with (
        app.app_context(),
        gateways.client_for(app.config, db.session.get(Team, team.id)) as c,
        pytest.raises(iqsms.NotSentError),
    ):
        c.balance()
    heartbeat.run(app)
    failed = _metrics(client)
    balance = (("endpoint", "balance.json"), ("outcome", "unreachable"))
    assert failed[("iqsms_gateway_calls_total", balance)] == 1
    assert failed[("iqsms_batches_sent_total", ())] == batches


_OTHER_WORKER = """
import sys
from webapp.app import create_app
from webapp.domain import gateways
from webapp.extensions import db
from webapp.jobs import heartbeat
from webapp.models import Team

url, sandbox, token, key, team_id, calls = sys.argv[1:]
app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SANDBOX_URL": sandbox, "SECRET_KEY": "x",
                  "SANDBOX_CONTROL_TOKEN": token, "ENCRYPTION_KEY": key})
with app.app_context():
    team = db.session.get(Team, int(team_id))
    with gateways.client_for(app.config, team) as client:
        for _ in range(int(calls)):
            client.balance()
    db.session.remove()
heartbeat.run(app)
"""


def test_metrics_add_up_the_calls_of_every_worker_process(app: Flask, team: Team) -> None:
    app.config["METRICS_TOKEN"] = TOKEN
    config = app.config
    args = [
        config["SQLALCHEMY_DATABASE_URI"],
        config["SANDBOX_URL"],
        config["SANDBOX_CONTROL_TOKEN"],
        config["ENCRYPTION_KEY"],
        str(team.id),
    ]
    workers = [
        subprocess.Popen([sys.executable, "-c", _OTHER_WORKER, *args, str(n)], cwd=PROJECT)
        for n in (4, 7)
    ]
    with app.app_context(), gateways.client_for(app.config, db.session.get(Team, team.id)) as c:
        for _ in range(2):
            c.balance()
    heartbeat.run(app)
    assert [w.wait(timeout=120) for w in workers] == [0, 0]

    seen = _metrics(app.test_client())
    ok = (("endpoint", "balance.json"), ("outcome", "ok"))
    assert seen[("iqsms_gateway_calls_total", ok)] == 2 + 4 + 7
    assert seen[("iqsms_workers_alive", ())] == 3  # this process and the two others


# -- log lines ----------------------------------------------------------------------------------


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_json_log_lines_carry_the_request_id_given_or_made(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture
) -> None:
    client = make_app(LOG_FORMAT="json").test_client()
    capsys.readouterr()
    # X-Forwarded-For without IQSMS_PROXY_FIX_HOPS: the app logs a warning while serving it.
    given = client.get("/healthz", headers={"X-Request-ID": "req-42", "X-Forwarded-For": "1.2.3.4"})
    assert given.headers["X-Request-ID"] == "req-42"
    (line,) = [x for x in _json_lines(capsys.readouterr().err) if "X-Forwarded-For" in x["message"]]
    assert (line["level"], line["request_id"]) == ("WARNING", "req-42")
    assert line["logger"] == "webapp.app"
    assert line["time"].endswith("+00:00")

    for unusable in ("two words", "x" * 129, ""):
        made = client.get("/readyz", headers={"X-Request-ID": unusable}).headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", made), unusable
    assert client.get("/").headers["X-Request-ID"] != client.get("/").headers["X-Request-ID"]


def test_worker_lines_name_the_team_and_the_campaign(
    app: Flask, team: Team, capsys: pytest.CaptureFixture, unused_port: int
) -> None:
    app.config["LOG_FORMAT"] = "json"
    from webapp import log_setup

    log_setup.configure_logging("json", "INFO")
    campaign_id = make_campaign(app, team, 5)
    app.config["SANDBOX_URL"] = f"http://127.0.0.1:{unused_port}/messages/v2/"
    capsys.readouterr()

    dispatch.run(app, wait=60)  # in the dispatch pool's thread, like the worker

    lines = _json_lines(capsys.readouterr().err)
    failed = [x for x in lines if "retrying later" in x["message"]]
    assert failed, lines
    assert all((x["team"], x["campaign"]) == (team.id, campaign_id) for x in failed)
    summary = [x for x in lines if x["message"].startswith("dispatch: team")]
    assert summary and all(x["team"] == team.id and "campaign" not in x for x in summary)


def test_text_log_lines_name_the_team_and_the_campaign(capsys: pytest.CaptureFixture) -> None:
    import logging

    from webapp.log_setup import configure_logging, log_context

    configure_logging("text", "INFO")
    with log_context(team=3), log_context(campaign=12):
        logging.getLogger("webapp.jobs.test").warning("status queue: %s", "late")
    logging.getLogger("webapp.jobs.test").warning("no context")
    err = capsys.readouterr().err
    assert re.search(r"WARNING webapp\.jobs\.test: status queue: late \[team=3 campaign=12\]", err)
    assert re.search(r"WARNING webapp\.jobs\.test: no context\n", err)


# -- gunicorn --------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gunicorn_access_lines_are_json_with_the_request_id(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    app = make_app()  # the database the server's app uses, with its tables
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": "test",
        "IQSMS_LOG_FORMAT": "json",
    }
    log = tmp_path / "gunicorn.log"
    command = [sys.executable, "-m", "gunicorn", "--no-control-socket", "--workers", "1"]
    command += ["--bind", f"127.0.0.1:{port}", "--access-logfile", "-"]
    command += ["--logger-class", "webapp.gunicorn_logging.TokenRedactingLogger", "wsgi:app"]
    with log.open("w") as out:
        server = subprocess.Popen(
            command,
            cwd=PROJECT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return requests.get(f"{base}/healthz", timeout=5).ok
            except requests.RequestException:  # not listening yet, or its worker booting
                return False

        assert _wait_for(up, timeout=60), log.read_text()
        answer = requests.get(
            f"{base}/invite/secret-token", headers={"X-Request-ID": "abc-1"}, timeout=30
        )
        assert answer.headers["X-Request-ID"] == "abc-1"

        def access_line() -> dict | None:
            lines = _json_lines(log.read_text())
            return next((x for x in lines if x.get("request_id") == "abc-1"), None)

        line = _wait_for(access_line, timeout=30)
        assert line, log.read_text()
        assert line["logger"] == "gunicorn.access" and line["status"] == str(answer.status_code)
        assert "secret-token" not in json.dumps(line)
        assert all(x["level"] for x in _json_lines(log.read_text()))  # gunicorn's own too
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_a_running_flask_worker_makes_the_service_ready_until_it_stops(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    app = make_app(METRICS_TOKEN=TOKEN)
    client = app.test_client()
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": "test",
        "FLASK_APP": "wsgi:app",
    }
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "flask", "worker"],
            cwd=PROJECT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def answer() -> dict:
            return client.get("/readyz", headers=BEARER).json

        assert _wait_for(lambda: answer()["status"] == "ready", timeout=60), log.read_text()
        assert answer()["workers"] == 1
    finally:
        worker.terminate()  # SIGTERM, as systemd stops it
        assert worker.wait(timeout=90) == 0, log.read_text()
    stopped = answer()
    assert (stopped["status"], stopped["workers"]) == ("not ready", 0), log.read_text()


def test_heartbeat_of_a_worker_long_gone_is_forgotten(app: Flask) -> None:
    with app.app_context():
        now = utcnow()
        db.session.add(Lease(name="worker:gone:1", holder="x", expires_at=now - timedelta(days=2)))
        db.session.commit()
        operations.beat(db.session, now, timedelta(seconds=60))
        names = db.session.scalars(sa.select(Lease.name)).all()
        assert names == [operations.heartbeat_name()]
        assert operations.live_workers(db.session, now) == 1
        operations.stop_beating(db.session, now)
        assert operations.live_workers(db.session, now) == 0


def test_the_operations_settings_are_read_from_the_environment(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import logging

    monkeypatch.setenv("IQSMS_METRICS_TOKEN", "20261201")  # digits: read as JSON, a number
    monkeypatch.setenv("IQSMS_WORKER_HEARTBEAT_STALE_SECONDS", "90")
    monkeypatch.setenv("IQSMS_LOG_FORMAT", "json")
    monkeypatch.setenv("IQSMS_LOG_LEVEL", "WARNING")
    app = make_app()
    client = app.test_client()

    waiting = client.get("/readyz", headers={"Authorization": "Bearer 20261201"})
    assert waiting.json["reasons"] == ["No worker has reported in the last 90 s."]
    assert "workers" in waiting.json  # the operator's answer: the token matched
    assert client.get("/metrics", headers={"Authorization": "Bearer 20261201"}).status_code == 200
    before = utcnow()
    heartbeat.run(app)
    with app.app_context():
        expires = db.session.scalar(sa.select(Lease.expires_at))
    assert before + timedelta(seconds=90) <= expires <= utcnow() + timedelta(seconds=90)

    capsys.readouterr()
    logging.getLogger("webapp.test").info("not written")
    logging.getLogger("webapp.test").warning("written")
    assert [x["message"] for x in _json_lines(capsys.readouterr().err)] == ["written"]
