"""Command-line entry points: ``flask worker`` and ``flask serve``."""

from typing import Any

import click
from apscheduler.schedulers.base import BaseScheduler
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_babel import gettext as _

from webapp import i18n
from webapp.config import DEFAULT_SANDBOX_URL, ensure_sandbox_control_token
from webapp.jobs import heartbeat
from webapp.jobs.scheduler import create_scheduler, run_until_stopped


def register(app: Flask) -> None:
    """Add this module's commands to ``app.cli``."""
    from webapp.admin_cli import teams_cli, users_cli
    from webapp.demo.command import demo

    app.cli.add_command(worker)
    app.cli.add_command(i18n.translations_cli)
    app.cli.add_command(serve)
    app.cli.add_command(users_cli)
    app.cli.add_command(teams_cli)
    app.cli.add_command(demo)


def _job_summary(scheduler: BaseScheduler) -> str:
    # In the install's default language (BABEL_DEFAULT_LOCALE): a command has no browser.
    jobs = scheduler.get_jobs()
    ticks = [
        _("%(tick)s every %(interval)s", tick=job.name, interval=job.trigger.interval)
        for job in jobs
    ]
    return ", ".join(ticks) or _("none yet")


def _stopping(bound: float) -> None:
    click.echo(
        _(
            "Stopping: finishing the work under way (at most %(seconds)d s).",
            seconds=round(bound),
        )
    )


@click.command("worker")
@with_appcontext
def worker() -> None:
    """Run the background ticks (sending, statuses, balance) until interrupted."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    ensure_sandbox_control_token(app)  # the one a `flask serve` beside it gives its sandbox
    scheduler = create_scheduler(app, background=True)
    click.echo(
        _("Worker started; ticks: %(ticks)s. Press Ctrl-C to stop.", ticks=_job_summary(scheduler))
    )
    from webapp.app import keep_startup_objects  # (app imports this module)

    keep_startup_objects()
    # SIGTERM (systemd, containers) and Ctrl-C stop it the same way, gracefully.
    run_until_stopped(app, scheduler, on_stop=_stopping)
    heartbeat.stop(app)  # gone now for /readyz, its counted gateway calls stored
    click.echo(_("Worker stopped."))


def with_sandbox(app: Flask, host: str, port: int) -> Any:
    """``app`` with the sandbox gateway mounted at /sandbox, as `flask serve` runs them: the
    sandbox's control API opens with the app's SANDBOX_CONTROL_TOKEN (set, or generated into
    the instance folder), which the app sends when it provisions teams' accounts."""
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    from webapp.sandbox import Settings, create_sandbox_app

    settings = Settings(control_token=ensure_sandbox_control_token(app))
    sandbox_app = create_sandbox_app(app.config["SANDBOX_STATE_PATH"], settings)
    if app.config["SANDBOX_URL"] == DEFAULT_SANDBOX_URL:
        # The default assumes port 5000; follow the port actually served on.
        client_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        app.config["SANDBOX_URL"] = f"http://{client_host}:{port}/sandbox/messages/v2/"
    return DispatcherMiddleware(app, {"/sandbox": sandbox_app})


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-worker", is_flag=True, help="Do not run the background ticks here.")
@click.option("--no-sandbox", is_flag=True, help="Do not mount the sandbox gateway at /sandbox.")
@with_appcontext
def serve(host: str, port: int, no_worker: bool, no_sandbox: bool) -> None:
    """Run web, worker and sandbox gateway in one process: the laptop setup."""
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    upgrade()

    wsgi_app = app if no_sandbox else with_sandbox(app, host, port)
    server = make_server(host, port, wsgi_app, threaded=True)

    scheduler = None
    if not no_worker:
        scheduler = create_scheduler(app, background=True)
        ticks = _job_summary(scheduler)
        click.echo(_("Worker started in the background; ticks: %(ticks)s.", ticks=ticks))

    address = f"http://{host}:{port}"
    click.echo(_("iQSMS Dashboard on %(address)s", address=address))
    # The web server in a thread, the main thread waiting for SIGTERM or Ctrl-C: the stop
    # then never depends on where a signal happens to interrupt the serving loop.
    from webapp.app import keep_startup_objects

    keep_startup_objects()
    run_until_stopped(app, scheduler, server, on_stop=_stopping)
    if scheduler is not None:
        heartbeat.stop(app)  # its worker is gone now for /readyz, its counted calls stored
    click.echo(_("iQSMS Dashboard stopped."))
