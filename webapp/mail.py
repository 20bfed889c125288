"""Email through SMTP (the MAIL_* settings): invitation and password reset links, and
notifications (mailed by the worker).

Plain functions of a config mapping, so views and the CLI share them. A message is sent while the
caller holds no database connection (commit first): a slow mail server then delays one person's
page, never the pool.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext


class MailError(RuntimeError):
    """The mail server refused the message or could not be reached."""


def mail_configured(config: Mapping[str, Any]) -> bool:
    """Whether links go out by mail: a MAIL_SERVER is set, and PUBLIC_URL, the address mailed
    links are built on (built on the request's Host header instead, a forged one would mail a
    person a real reset link to someone else's site)."""
    return bool(config.get("MAIL_SERVER")) and bool(config.get("PUBLIC_URL"))


def send_mail(config: Mapping[str, Any], to: str, subject: str, body: str) -> None:
    """Send one plain-text message to ``to``; raises MailError when it cannot go."""
    message = EmailMessage()
    sender = config.get("MAIL_FROM") or f"iQSMS Dashboard <no-reply@{config['MAIL_SERVER']}>"
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=str(config["MAIL_SERVER"]))
    message.set_content(body)
    try:
        with _connect(config) as smtp:
            if config.get("MAIL_USERNAME"):
                smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:  # refused, timed out, TLS, auth, rejected
        # For the log and the stored notification, not a page: not translated.
        raise MailError(f"The mail server did not take the message: {exc}") from exc


def _connect(config: Mapping[str, Any]) -> smtplib.SMTP:
    host, port = str(config["MAIL_SERVER"]), int(config.get("MAIL_PORT") or 0)
    timeout = float(config.get("MAIL_TIMEOUT") or 10)
    context = ssl.create_default_context()
    if config.get("MAIL_USE_SSL"):
        return smtplib.SMTP_SSL(host, port or 465, timeout=timeout, context=context)
    smtp = smtplib.SMTP(host, port or 25, timeout=timeout)
    if config.get("MAIL_USE_TLS"):
        try:
            smtp.starttls(context=context)
        except BaseException:
            smtp.close()
            raise
    return smtp


def invitation_mail(team: str, role: str, link: str, hours: float) -> tuple[str, str]:
    """The subject and text of an invitation link's message; ``role`` in words."""
    subject = _("You are invited to %(team)s on iQSMS Dashboard", team=team)
    shown_hours = f"{float(hours):g}"
    how_long = ngettext(
        "for %(hours)s hour",
        "for %(hours)s hours",
        # gettext picks forms for whole numbers; a fraction ("1.5 hours", "1,5 часа") takes
        # the form of 2 in English and Russian alike.
        int(hours) if float(hours).is_integer() else 2,
        hours=shown_hours,
    )
    body = _(
        "You are invited to join %(team)s on iQSMS Dashboard as %(role)s.\n\n"
        "Open this link to join (signing up if you have no account yet). It works once, "
        "%(how_long)s:\n\n%(link)s\n\n"
        "If you did not expect this, ignore this message.",
        team=team,
        role=role,
        how_long=how_long,
        link=link,
    )
    return subject, body


def reset_mail(email: str, link: str) -> tuple[str, str]:
    """The subject and text of a password reset link's message."""
    body = _(
        "Someone (we hope you) asked to set a new password for %(email)s on iQSMS Dashboard."
        "\n\nOpen this link within an hour to choose one; it works once:\n\n%(link)s\n\n"
        "If it was not you, ignore this message: your password stays as it is.",
        email=email,
        link=link,
    )
    return _("Set a new password"), body


def notification_message(
    headline: str, team: str, link: str, settings_link: str
) -> tuple[str, str]:
    """The subject and text of a notification's message (webapp/domain/notifications.py)."""
    body = _(
        "%(headline)s\n\nTeam: %(team)s\n\nOpen it on iQSMS Dashboard:\n\n%(link)s\n\n"
        "You can choose which notifications you get, and which by email, on your account "
        "page:\n\n%(settings)s",
        headline=headline,
        team=team,
        link=link,
        settings=settings_link,
    )
    subject = " ".join(_("%(team)s: %(headline)s", team=team, headline=headline).split())
    # One line (a gateway's words can hold line breaks), short enough for a mail list.
    return subject if len(subject) <= 150 else subject[:149] + "…", body
