"""The notification mail tick: mails what the app told people (webapp/domain/notifications.py),
from the worker only, never from a request, where mail is set up (MAIL_SERVER and PUBLIC_URL).

Links in the mail are built on PUBLIC_URL (webapp/security.py public_link), never on a request's
Host header.
"""

from __future__ import annotations

from flask import Flask

from webapp.domain import notification_mail, notifications
from webapp.extensions import db
from webapp.mail import mail_configured, notification_message, send_mail
from webapp.models import Notification, utcnow
from webapp.security import public_link


def run(app: Flask) -> notification_mail.MailReport | None:
    """Mail the pending notifications (with mail not set up, they stay in the app only)."""
    if not mail_configured(app.config):
        notification_mail.skip_mail(db.session)
        return None
    return notification_mail.mail_due(db.session, app.config, utcnow, compose, send_mail)


def compose(notification: Notification) -> tuple[str, str]:
    """A notification's subject and text, with the link that opens it (and marks it read)."""
    return notification_message(
        notifications.headline(notification),
        notification.team.name,
        public_link("notifications.follow", notification_id=notification.id),
        public_link("notifications.settings"),
    )
