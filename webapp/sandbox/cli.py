"""``flask sandbox ...``: run the sandbox gateway on its own, and manage its accounts."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import gettext as _
from werkzeug.serving import WSGIRequestHandler, make_server

from . import create_sandbox_app
from .accounts import create_account, overview, seed
from .settings import Faults, Settings
from .store import Store

sandbox_cli = AppGroup("sandbox", help="The iQSMS-compatible sandbox gateway.")


def default_state_path() -> str:
    return current_app.config["SANDBOX_STATE_PATH"]


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: object, **kwargs: object) -> None:
        pass


# The simulation's and the faults' numeric options: (flag, default, help).
NUMERIC_OPTIONS = (
    ("--seed", 1, "Seed of the delivery simulation."),
    ("--submit-delay", 1.0, "Seconds to smsc submit."),
    ("--deliver-delay", 3.0, "Seconds to final status."),
    ("--jitter", 0.5, "Random spread of the delays."),
    ("--delivered", 0.9, "Share delivered."),
    ("--delivery-error", 0.07, "Share 'delivery error'."),
    ("--smsc-reject", 0.03, "Share 'smsc reject'."),
    ("--approval-delay", 30.0, "Seconds to approve."),
    ("--latency-ms", 0, "Fault: added latency."),
    ("--http-500", 0.0, "Fault: share of HTTP 500s."),
    ("--error-reply", 0.0, "Fault: share of errors."),
    ("--garbage", 0.0, "Fault: share of non-JSON."),
    ("--drop", 0.0, "Fault: share of dropped requests."),
    ("--lose-reply", 0.0, "Fault: share of lost replies."),
    ("--slow", 0.0, "Fault: share answered after --slow-ms."),
    ("--slow-ms", 2000, "Fault: wait of a slow reply."),
    ("--timeout", 0.0, "Fault: share answered after --timeout-ms."),
    ("--timeout-ms", 60000, "Fault: wait of a timed-out reply."),
    ("--trickle-interval", 2.0, "Fault: seconds per byte for --trickle-logins."),
)


def numeric_options(command: Callable[..., None]) -> Callable[..., None]:
    for flag, default, help_text in reversed(NUMERIC_OPTIONS):
        command = click.option(flag, default=default, show_default=True, help=help_text)(command)
    return command


@sandbox_cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5050, show_default=True, type=int)
@click.option("--state", "state_path", help="SQLite state file [instance/sandbox.sqlite3]")
@numeric_options
@click.option("--final-only", is_flag=True, help="Queue only final statuses.")
@click.option("--no-billing-details", is_flag=True, help="Send replies without msgCost.")
@click.option("--fault-endpoints", default="", help="Faults only on these, e.g. send.json,...")
@click.option("--trickle-logins", default="", help="Fault: trickle these accounts' replies.")
@click.option(
    "--control-token",
    envvar="IQSMS_SANDBOX_CONTROL_TOKEN",
    default=None,
    help="Turn the control API (/_sandbox/) on for requests with X-Sandbox-Token: this"
    " [IQSMS_SANDBOX_CONTROL_TOKEN; without it the control API is off].",
)
@click.option("--quiet", is_flag=True, help="Do not log every request.")
def serve(host: str, port: int, state_path: str | None, quiet: bool, **options: object) -> None:
    """Run the sandbox gateway: the iQSMS API at http://HOST:PORT/messages/v2/."""
    faults = Faults(
        latency_ms=options.pop("latency_ms"),
        http_500=options.pop("http_500"),
        error_reply=options.pop("error_reply"),
        garbage=options.pop("garbage"),
        drop=options.pop("drop"),
        lose_reply=options.pop("lose_reply"),
        slow=options.pop("slow"),
        slow_ms=options.pop("slow_ms"),
        timeout=options.pop("timeout"),
        timeout_ms=options.pop("timeout_ms"),
        endpoints=[e for e in str(options.pop("fault_endpoints")).split(",") if e],
        trickle_logins=[e for e in str(options.pop("trickle_logins")).split(",") if e],
        trickle_interval=options.pop("trickle_interval"),
    )
    settings = Settings(
        seed=options["seed"],
        submit_delay=options["submit_delay"],
        deliver_delay=options["deliver_delay"],
        jitter=options["jitter"],
        delivered_ratio=options["delivered"],
        delivery_error_ratio=options["delivery_error"],
        smsc_reject_ratio=options["smsc_reject"],
        approval_delay=options["approval_delay"],
        intermediate_statuses=not options["final_only"],
        billing_details=not options["no_billing_details"],
        control_token=options["control_token"],
        faults=faults,
    )
    state_path = state_path or default_state_path()
    app = create_sandbox_app(state_path, settings)
    handler = QuietHandler if quiet else WSGIRequestHandler
    server = make_server(host, port, app, threaded=True, request_handler=handler)
    # Messages in the dashboard's default language (BABEL_DEFAULT_LOCALE); --help stays English.
    address = f"http://{host}:{server.port}/messages/v2/"
    click.echo(
        _("iQSMS sandbox on %(address)s (state: %(state)s)", address=address, state=state_path)
    )
    if not settings.control_token:
        click.echo(_("Control API off: no --control-token (IQSMS_SANDBOX_CONTROL_TOKEN) given."))
    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.extensions["iqsms_sandbox"].store.close()


def _stop(_signum: int, _frame: object) -> None:
    """SIGTERM (systemd, containers, a test's fleet) stops the server as Ctrl-C does: the
    socket and the state file are closed and the exit code is 0."""
    raise KeyboardInterrupt


@sandbox_cli.command("accounts")
@click.option("--state", "state_path", help="SQLite state file [instance/sandbox.sqlite3]")
def accounts(state_path: str | None) -> None:
    """List the sandbox's accounts and balances."""
    store = _open_store(state_path)
    try:
        with store.transaction() as db:
            click.echo(json.dumps(overview(db), indent=2))
    finally:
        store.close()


@sandbox_cli.command("add-account")
@click.argument("login")
@click.option("--password", required=True)
@click.option("--balance", default="1000.00", show_default=True, help="RUB balance.")
@click.option("--price", default="2.50", show_default=True, help="RUB per part.")
@click.option("--state", "state_path", help="SQLite state file [instance/sandbox.sqlite3]")
def add_account(
    login: str, password: str, balance: str, price: str, state_path: str | None
) -> None:
    """Create a sandbox account with the default sender names."""
    store = _open_store(state_path)
    spec = {"login": login, "password": password, "balance": balance, "price": price}
    try:
        with store.transaction() as db:
            if store.account(db, login):
                raise click.ClickException(_("The account %(login)s exists already.", login=login))
            create_account(store, db, spec, time.time(), Settings().approval_delay)
    except ValueError as exc:
        raise click.ClickException(_("Not a valid account: %(reason)s", reason=exc)) from exc
    finally:
        store.close()
    click.echo(_("Created sandbox account %(login)s", login=login))


def _open_store(state_path: str | None) -> Store:
    """The state file's store, made (with the documented accounts) when missing. The commands
    work on the file itself, not through the control API, which may be off."""
    store = Store(state_path or default_state_path())
    seed(store, time.time(), Settings().approval_delay)
    return store
