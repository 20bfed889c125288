"""The Flask application factory."""

import gc
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_request_context, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from werkzeug.exceptions import ServiceUnavailable

from webapp import (
    access,
    cli,
    formatting,
    gateway_texts,
    htmx,
    i18n,
    log_setup,
    models,
    security,
    texts,
)
from webapp.at_rest import private_database, private_folder, private_sqlite_connection
from webapp.body_limits import init_app as init_body_limits
from webapp.config import load_config
from webapp.csv_writer import init_app as init_csv_downloads
from webapp.extensions import babel, compress, csrf, db, login_manager, migrate
from webapp.models import AuditEvent
from webapp.static_assets import init_app as init_static_assets
from webapp.two_factor_gate import init_app as init_two_factor_gate
from webapp.views import register_blueprints
from webapp.views.balance import low_balance_entry

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the web application; ``config`` overrides every other configuration layer."""
    app = Flask(
        __name__,
        # IQSMS_INSTANCE_PATH lets tests and deployments keep data outside the checkout.
        instance_path=os.environ.get("IQSMS_INSTANCE_PATH") or None,
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    private_folder(app.instance_path)  # files at rest: the service's user only
    load_config(app, config)
    # First: lines logged from here on have the configured format, and the request id is the
    # first before_request function, so whatever the others log carries it.
    log_setup.init_app(app)
    private_database(app.config["SQLALCHEMY_DATABASE_URI"])

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    _init_login(app)
    compress.init_app(app)  # the first after_request function, so it runs last: on the final body
    init_static_assets(app)  # links to static files name their version; cached for a year
    init_body_limits(app)  # first of the before_request functions: CSRF reads the body
    csrf.init_app(app)
    i18n.init_app(app)  # compiles the catalogues before Flask-Babel reads its configuration
    babel.init_app(app, locale_selector=i18n.select_language)
    app.jinja_env.globals["get_locale"] = get_locale
    # Multi-line {% trans %} blocks give one-line msgids (webapp.i18n extracts them trimmed too).
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.jinja_env.globals["message_state_label"] = models.message_state_label
    htmx.init_app(app)
    formatting.init_app(app)
    texts.init_app(app)  # shown_text: stored reasons in the reader's language
    gateway_texts.init_app(app)  # gateway_status, sender_status
    init_csv_downloads(app)
    security.init_app(app)
    app.before_request(access.load_current_team)
    init_two_factor_gate(app)  # after the current team is known: it reads it
    if app.config.get("MAIL_SERVER") and not app.config.get("PUBLIC_URL"):
        app.logger.warning(
            "MAIL_SERVER is set but PUBLIC_URL is not: no link is mailed (set IQSMS_PUBLIC_URL)"
        )
    app.context_processor(_template_globals)

    _init_connections(app)
    if not event.contains(db.session, "before_flush", _stamp_request_address):
        event.listen(db.session, "before_flush", _stamp_request_address)
    register_blueprints(app)
    access.init_team_urls(app)  # after the blueprints: it adds a URL naming the team to theirs

    cli.register(app)
    # The sandbox is a self-contained piece; only its CLI group is attached to this app.
    from webapp.sandbox.cli import sandbox_cli

    app.cli.add_command(sandbox_cli)
    return app


def _template_globals() -> dict[str, Any]:
    # Formatting filters and globals are registered by formatting.init_app; these are about
    # who is looking: what they may do, and the balance reading their banner watches.
    return {
        "can": access.can,
        "Permission": access.Permission,
        "low_balance_entry": low_balance_entry,
    }


def _stamp_request_address(session: Any, _context: Any, _instances: Any) -> None:
    """Audit events recorded while serving a request carry the address it came from; domain
    code records them without knowing about requests."""
    if not has_request_context():
        return
    for obj in session.new:
        if isinstance(obj, AuditEvent) and not obj.ip:
            obj.ip = request.remote_addr or ""


def _init_login(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None  # the sign-in page says enough


def keep_startup_objects() -> None:
    """Before a process starts serving (``flask serve``, ``flask worker``, each gunicorn
    worker): what it built so far (modules, the app, its catalogues) lives as long as the
    process, so the garbage collector's full passes stop walking it (``gc.freeze``). Those
    passes over it took 60-160 ms on a 2-core machine, and a request waited for each."""
    gc.collect()
    gc.freeze()


def _init_connections(app: Flask) -> None:
    """Each database connection's settings: SQLite's pragmas; on PostgreSQL, how long a
    transaction may sit idle (``DB_IDLE_IN_TRANSACTION_SECONDS``: a frozen process's locks
    are released when the server ends its session), and a web request's wait for a lock
    (``DB_LOCK_TIMEOUT_SECONDS``; then a 503 to retry)."""
    with app.app_context():
        dialect = db.engine.dialect.name
        if dialect == "sqlite":
            event.listen(db.engine, "connect", private_sqlite_connection)  # before WAL
            event.listen(db.engine, "connect", _set_sqlite_pragmas)
        elif dialect == "postgresql":
            if idle := _milliseconds(app.config["DB_IDLE_IN_TRANSACTION_SECONDS"]):
                setting = f"SET idle_in_transaction_session_timeout = {idle}"
                event.listen(db.engine, "connect", lambda dbapi, _record: _set(dbapi, setting))
            event.listen(db.engine, "checkout", _limit_lock_waits)
    app.register_error_handler(DBAPIError, _database_busy)


def _milliseconds(seconds: Any) -> int:
    return max(0, round(float(seconds or 0) * 1000))


def _set(dbapi_connection: Any, setting: str) -> None:
    """A PostgreSQL session setting, committed: a SET is undone with its transaction's
    rollback (the pool rolls back every connection given back to it)."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute(setting)
    dbapi_connection.commit()


def _limit_lock_waits(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """As a connection is taken from the pool: in a web request it waits at most
    DB_LOCK_TIMEOUT_SECONDS for a lock another process holds; elsewhere (the worker's ticks,
    whose own locks are short) the server's setting holds. Set only when that changes, so a
    web process sets it once per connection."""
    wanted = 0
    if has_request_context():
        wanted = _milliseconds(current_app.config["DB_LOCK_TIMEOUT_SECONDS"])
    if record.info.get("lock_timeout_ms", 0) != wanted:
        _set(dbapi_connection, f"SET lock_timeout = {wanted}" if wanted else "RESET lock_timeout")
        record.info["lock_timeout_ms"] = wanted


def _database_busy(error: DBAPIError) -> ResponseReturnValue:
    """A request that waited too long for a lock (or another operational failure: a query
    cancelled, SQLite busy), or whose connection the server ended: 503 in the person's
    language, to try again in a moment. Any other database error is the app's: a 500."""
    if not (isinstance(error, OperationalError) or error.connection_invalidated):
        raise error
    current_app.logger.warning("database busy: %s", str(error.orig).strip()[:200])
    db.session.rollback()
    busy = ServiceUnavailable(_("The database is busy. Wait a moment and try again."))
    headers = {"Retry-After": "5"}
    try:
        page = render_template("error.html", error=busy, description=busy.description)
    except SQLAlchemyError:  # the page's own reads failed too: the words alone
        db.session.rollback()
        return busy.description, 503, {**headers, "Content-Type": "text/plain; charset=utf-8"}
    return page, 503, headers


def _set_sqlite_pragmas(dbapi_connection: Any, _connection_record: Any) -> None:
    # WAL lets the web read while the worker writes; busy_timeout makes a writer wait for the
    # lock instead of failing at once; SQLite leaves foreign keys off unless asked, per connection.
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "busy_timeout=5000",
        "foreign_keys=ON",
        "synchronous=NORMAL",
        # 64 MB of page cache: million-row campaigns touch more index pages than the
        # default 2 MB holds, and every status page would go back to the file.
        "cache_size=-64000",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()
