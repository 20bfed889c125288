"""The delivery-status ticks: draining the status queues, and polling status.json (with expiry).
The work itself is in :mod:`webapp.domain.statuses`."""

from __future__ import annotations

from flask import Flask

from webapp.domain import gateways, statuses
from webapp.extensions import db


def run_queue(app: Flask) -> None:
    report = statuses.drain_status_queues(
        db.session, client_factory=gateways.client_factory(app.config)
    )
    if report.received:
        app.logger.info("status queue: %s", report)


def run_poll(app: Flask) -> None:
    report = statuses.poll_statuses(
        db.session,
        client_factory=gateways.client_factory(app.config),
        checks=statuses.Checks.from_config(app.config),
    )
    if report.checked or report.expired or report.swept:
        app.logger.info("status poll: %s", report)
