"""The notification mail tick: mails what the app told people (webapp/domain/notifications.py),
from the worker only, never from a request, where mail is set up (MAIL_SERVER and PUBLIC_URL).

Links in the mail are built on PUBLIC_URL (webapp/security.py public_link), never on a request's
Host header. Each mail is in its recipient's language (their choice in their profile; the app's
default when they made none), whoever caused the event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app
from flask_babel import force_locale

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


def language_of(notification: Notification, config: Mapping[str, Any]) -> str:
    """The language a notification's mail is written in: its recipient's choice when the app
    offers it, else the app's default."""
    chosen = notification.user.language
    return chosen if chosen in config["LANGUAGES"] else config["BABEL_DEFAULT_LOCALE"]


def compose(notification: Notification) -> tuple[str, str]:
    """A notification's subject and text, with the link that opens it (and marks it read), in
    its recipient's language."""
    with force_locale(language_of(notification, current_app.config)):
        return notification_message(
            notifications.headline(notification),
            notification.team.name,
            public_link("notifications.follow", notification_id=notification.id),
            public_link("notifications.settings"),
        )
