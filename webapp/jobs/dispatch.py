"""The dispatch tick: ``DISPATCH_THREADS`` sending loops side by side. The sending itself is in
:mod:`webapp.domain.sending`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from flask import Flask

from webapp.domain import gateways, sending
from webapp.domain.statuses import Checks
from webapp.extensions import db


def run(app: Flask) -> None:
    """The worker's entry point: ``DISPATCH_THREADS`` loops side by side, so one waits for
    the gateway's reply while another stores results or claims the next batch. They share the
    work exactly as separate workers do."""
    threads = max(1, int(app.config["DISPATCH_THREADS"]))
    if threads == 1:
        _run_one(app)
        return
    with ThreadPoolExecutor(threads, thread_name_prefix="dispatch") as pool:
        for future in [pool.submit(_run_one, app) for _ in range(threads)]:
            future.result()


def _run_one(app: Flask) -> None:
    with app.app_context():
        try:
            report = sending.dispatch_due_messages(
                db.session,
                client_factory=gateways.client_factory(app.config),
                checks=Checks.from_config(app.config),
            )
        finally:
            db.session.remove()
    if report.claimed or report.stale or report.started or report.finished or report.paused:
        app.logger.info("dispatch: %s", report)
