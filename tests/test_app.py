"""The application foundation: configuration, database, pages, HTMX helper, CLI (migrations:
tests/test_migrations.py)."""

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta, timezone
from importlib import import_module
from pathlib import Path

import pytest
import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask, current_app, make_response
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy.exc import StatementError

from tests.helpers import TEST_DATABASE_URL
from webapp.app import create_app
from webapp.config import DEFAULT_SANDBOX_URL, normalize_database_url
from webapp.extensions import db
from webapp.htmx import htmx_details, is_htmx, stop_polling
from webapp.jobs import scheduler as scheduler_module
from webapp.jobs.scheduler import Tick, create_scheduler
from webapp.models import User, UTCDateTime

PROJECT_ROOT = Path(__file__).resolve().parent.parent
on_sqlite_only = pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="SQLite-specific")


# -- configuration -------------------------------------------------------------------------------


def test_defaults(clean_environment: Path) -> None:
    app = create_app()
    instance = clean_environment
    assert app.instance_path == str(instance)
    assert instance.is_dir()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'iqsms.sqlite3'}"
    assert app.config["SANDBOX_URL"] == DEFAULT_SANDBOX_URL
    assert app.config["SANDBOX_STATE_PATH"] == str(instance / "sandbox.sqlite3")
    assert app.config["LANGUAGES"] == ["en", "ru"]
    assert not app.config["TESTING"]


def test_instance_config_overrides_defaults(clean_environment: Path) -> None:
    clean_environment.mkdir()
    (clean_environment / "config.py").write_text(
        'SANDBOX_URL = "http://from-instance/"\nSQLALCHEMY_DATABASE_URI = "sqlite:///inst.db"\n'
    )
    app = create_app()
    assert app.config["SANDBOX_URL"] == "http://from-instance/"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:///inst.db"


def test_environment_overrides_instance_config(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean_environment.mkdir()
    (clean_environment / "config.py").write_text(
        'SANDBOX_URL = "http://from-instance/"\nSECRET_KEY = "from-instance"\n'
    )
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db.example/prod")
    monkeypatch.setenv("SECRET_KEY", "from-env")
    monkeypatch.setenv("IQSMS_SANDBOX_URL", "http://from-env/")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.example/prod"
    assert app.config["SECRET_KEY"] == "from-env"
    assert app.config["SANDBOX_URL"] == "http://from-env/"


def test_config_argument_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "from-env")
    monkeypatch.setenv("IQSMS_SANDBOX_URL", "http://from-env/")
    app = create_app({"SECRET_KEY": "from-dict", "SANDBOX_URL": "http://from-dict/"})
    assert app.config["SECRET_KEY"] == "from-dict"
    assert app.config["SANDBOX_URL"] == "http://from-dict/"


def test_secret_key_is_generated_once_and_reused(clean_environment: Path) -> None:
    first = create_app().config["SECRET_KEY"]
    key_file = clean_environment / "secret_key"
    assert len(first) == 64
    assert key_file.read_text().strip() == first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert create_app().config["SECRET_KEY"] == first
    # Beside the keys, only the compiled catalogues (webapp.i18n).
    assert sorted(p.name for p in clean_environment.iterdir()) == [
        "encryption_key",
        "secret_key",
        "translations",
    ]


def test_given_secret_key_writes_no_file(clean_environment: Path) -> None:
    create_app({"SECRET_KEY": "given"})
    assert not (clean_environment / "secret_key").exists()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@h:5432/d", "postgresql+psycopg://u:p@h:5432/d"),
        ("postgresql://u@h/d?sslmode=require", "postgresql+psycopg://u@h/d?sslmode=require"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:////tmp/x.sqlite3", "sqlite:////tmp/x.sqlite3"),
    ],
)
def test_database_url_normalisation(url: str, expected: str) -> None:
    assert normalize_database_url(url) == expected


def test_database_url_from_config_argument_is_normalised() -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": "postgres://u@h/d"})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/d"


# -- database ------------------------------------------------------------------------------------


@on_sqlite_only
def test_sqlite_pragmas_are_set_on_every_connection(app: Flask) -> None:
    with app.app_context():
        for _ in range(2):  # a second, separately opened connection too
            with db.engine.connect() as connection:
                connection.invalidate()  # make the pool open a new DBAPI connection next time
            with db.engine.connect() as connection:

                def pragma(name: str, conn: sa.Connection = connection) -> object:
                    return conn.exec_driver_sql(f"PRAGMA {name}").scalar()

                assert pragma("journal_mode") == "wal"
                assert pragma("busy_timeout") == 5000
                assert pragma("foreign_keys") == 1
                assert pragma("synchronous") == 1  # NORMAL


def test_utc_datetime_round_trips_as_aware_utc(app: Flask) -> None:
    moscow = timezone(timedelta(hours=3))
    written = datetime(2024, 5, 1, 15, 30, 45, 123456, tzinfo=moscow)
    with app.app_context():
        db.session.add(User(email="ops@example.com", password_hash="x", created_at=written))
        db.session.commit()
        db.session.expire_all()
        read = db.session.scalars(sa.select(User.created_at)).one()
    assert read == written
    assert read.tzinfo is UTC
    assert read.hour == 12


def test_utc_datetime_defaults_to_now(app: Flask) -> None:
    with app.app_context():
        user = User(email="ops@example.com", password_hash="x")
        db.session.add(user)
        db.session.commit()
        db.session.expire_all()
        assert user.created_at.tzinfo is UTC
        assert abs(datetime.now(UTC) - user.created_at) < timedelta(minutes=1)


def test_utc_datetime_rejects_naive_datetimes(app: Flask) -> None:
    with app.app_context():
        db.session.add(
            User(email="ops@example.com", password_hash="x", created_at=datetime(2024, 5, 1, 12, 0))
        )
        with pytest.raises(StatementError, match="naive datetime"):
            db.session.commit()
        db.session.rollback()


def test_every_datetime_column_is_utc(app: Flask) -> None:
    columns = [c for t in db.metadata.tables.values() for c in t.columns]
    for column in columns:
        if column.type.python_type is datetime:
            assert isinstance(column.type, UTCDateTime), column


# -- pages ---------------------------------------------------------------------------------------


def test_home_page(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "iQSMS Dashboard" in html
    assert 'src="/static/vendor/htmx-2.0.11.min.js?v=' in html  # versioned: static_assets
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    # A strict CSP comes later: no inline scripts or styles.
    assert "<script>" not in html
    assert "style=" not in html


def test_static_assets_are_served(client: FlaskClient) -> None:
    for path in ("/static/vendor/htmx-2.0.11.min.js", "/static/css/app.css"):
        response = client.get(path)
        assert response.status_code == 200, path
        response.close()


@pytest.mark.parametrize(("accept", "lang"), [("ru-RU,ru;q=0.9", "ru"), ("de, en;q=0.5", "en")])
def test_locale_follows_accept_language(client: FlaskClient, accept: str, lang: str) -> None:
    html = client.get("/", headers={"Accept-Language": accept}).get_data(as_text=True)
    assert f'<html lang="{lang}">' in html


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


# -- HTMX helper ---------------------------------------------------------------------------------


def test_every_response_varies_on_hx_request(client: FlaskClient) -> None:
    assert "HX-Request" in client.get("/").headers["Vary"]
    assert "HX-Request" in client.get("/healthz").headers["Vary"]


def test_htmx_details(app: Flask) -> None:
    with app.test_request_context("/"):
        assert not is_htmx()
        assert not htmx_details()
    headers = {"HX-Request": "true", "HX-Target": "jobs", "HX-Current-URL": "http://x/c/1"}
    with app.test_request_context("/", headers=headers):
        details = htmx_details()
        assert details and is_htmx()
        assert details.target == "jobs"
        assert details.current_url == "http://x/c/1"
        assert details.wants_fragment
    with app.test_request_context("/", headers={"HX-Request": "true", "HX-Boosted": "true"}):
        assert is_htmx()
        assert not htmx_details().wants_fragment


def test_stop_polling_answers_286(app: Flask) -> None:
    app.add_url_rule("/_done", "done", lambda: stop_polling(make_response("finished")))
    response = app.test_client().get("/_done", headers={"HX-Request": "true"})
    assert response.status_code == 286
    assert response.get_data(as_text=True) == "finished"


# -- scheduler and worker ------------------------------------------------------------------------


def _noop(app: Flask) -> None:
    pass


def test_create_scheduler_has_one_job_per_registered_tick(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks = [Tick("dispatch", _noop, 2), Tick("balance", _noop, 600)]
    monkeypatch.setattr(scheduler_module, "default_ticks", lambda: ticks)

    blocking = create_scheduler(app, background=False)
    assert isinstance(blocking, BlockingScheduler)
    assert not blocking.running
    jobs = {job.id: job for job in blocking.get_jobs()}
    assert set(jobs) == {"dispatch", "balance"}
    assert jobs["dispatch"].trigger.interval == timedelta(seconds=2)
    assert jobs["balance"].trigger.interval == timedelta(seconds=600)
    assert all(job.coalesce and job.max_instances == 1 for job in jobs.values())

    assert isinstance(create_scheduler(app, background=True), BackgroundScheduler)


def test_background_scheduler_runs_ticks_in_app_context_and_survives_errors(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    ran = threading.Event()

    def failing(app_arg: Flask) -> None:
        raise RuntimeError("boom")

    def working(app_arg: Flask) -> None:
        assert current_app._get_current_object() is app_arg is app  # type: ignore[attr-defined]
        ran.set()

    ticks = [Tick("failing", failing, 60), Tick("working", working, 60)]
    scheduler = create_scheduler(app, background=True, ticks=ticks)
    scheduler.start()
    try:
        assert ran.wait(10)
        deadline = time.monotonic() + 10
        while "tick failing failed" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.shutdown(wait=True)
    assert "tick failing failed" in caplog.text
    assert "RuntimeError: boom" in caplog.text


def test_worker_command_lists_ticks_and_stops_on_ctrl_c(
    runner: FlaskCliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scheduler_module, "default_ticks", lambda: [Tick("dispatch", _noop, 2)])
    start = BackgroundScheduler.start

    def start_then_ctrl_c(self: BackgroundScheduler, *args: object, **kwargs: object) -> None:
        start(self, *args, **kwargs)
        signal.raise_signal(signal.SIGINT)  # Ctrl-C, once the worker runs

    monkeypatch.setattr(BackgroundScheduler, "start", start_then_ctrl_c)
    result = runner.invoke(args=["worker"])
    assert result.exit_code == 0, result.output
    assert "Worker started; ticks: dispatch every 0:00:02" in result.output
    assert "Stopping: finishing the work under way" in result.output
    assert "Worker stopped." in result.output


def test_housekeeping_forgets_old_sign_in_attempts(app: Flask) -> None:
    from webapp.domain import accounts
    from webapp.models import LoginAttempt

    now = datetime.now(UTC)
    with app.app_context():
        for age in (timedelta(days=8), timedelta(days=6), timedelta(minutes=1)):
            db.session.add(LoginAttempt(email="a@b.cd", ip="1.2.3.4", created_at=now - age))
        db.session.commit()
        assert accounts.prune_login_attempts(db.session, now) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginAttempt)) == 2
    assert {"dispatch", "housekeeping"} <= {t.name for t in scheduler_module.default_ticks()}


# -- flask serve ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sandbox_available() -> bool:
    try:
        return hasattr(import_module("webapp.sandbox"), "create_sandbox_app")
    except ImportError:
        return False


@pytest.mark.parametrize(
    "options",
    [
        ["--no-sandbox", "--no-worker"],
        pytest.param(
            [],
            marks=pytest.mark.skipif(
                not _sandbox_available(), reason="webapp.sandbox.create_sandbox_app not there yet"
            ),
        ),
    ],
    ids=["web-only", "all-in-one"],
)
def test_serve_answers_healthz(tmp_path: Path, options: list[str]) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}
    env.update(FLASK_APP="wsgi:app", IQSMS_INSTANCE_PATH=str(tmp_path / "serve-instance"))
    log_path = tmp_path / "serve.log"
    command = [sys.executable, "-m", "flask", "serve", "--port", str(port), *options]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        body = None
        deadline = time.monotonic() + 30
        while body is None and time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    body = r.read()
            except OSError:
                time.sleep(0.2)
        assert body == b'{"status":"ok"}\n', log_path.read_text()
        assert f"iQSMS Dashboard on http://127.0.0.1:{port}" in log_path.read_text()
        assert (tmp_path / "serve-instance" / "iqsms.sqlite3").exists()
        # Mounting the sandbox creates its state beside the app's database.
        mounted = (tmp_path / "serve-instance" / "sandbox.sqlite3").exists()
        assert mounted == ("--no-sandbox" not in options)
        if mounted:  # the sandbox answers the API beside the app
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/sandbox/messages/v2/version.json",
                data=b'{"login": "demo", "password": "demo"}',
            )
            with urllib.request.urlopen(request, timeout=5) as r:
                assert json.loads(r.read()) == {"status": "ok", "version": 2}
    finally:
        process.terminate()
        process.wait(10)
