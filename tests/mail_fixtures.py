"""A real SMTP server on loopback (aiosmtpd in a thread) that keeps what it receives, for tests
of anything that sends mail."""

from __future__ import annotations

import email
import email.policy
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


@dataclass
class Mailbox:
    """What the SMTP server received, and who logged in to it."""

    port: int
    messages: list[Message] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd calls it so
        # The default policy reads headers as people do (a Subject in UTF-8, unfolded).
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.messages.append(message)
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        login = (auth_data.login.decode(), auth_data.password.decode())
        self.logins.append(login)
        return AuthResult(success=login == ("mailer", "s3cret-mail"))

    def body(self, index: int = -1) -> str:
        return self.messages[index].get_payload(decode=True).decode()

    def link(self, index: int = -1) -> str:
        return re.search(r"https?://\S+", self.body(index)).group(0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(free_port())
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=box.port,
        authenticator=box.authenticate,
        auth_require_tls=False,  # loopback, a test: plain AUTH is fine here
    )
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def env_mail(monkeypatch, mailbox: Mailbox) -> Mailbox:
    """Mail configured the way an operator does: IQSMS_MAIL_* in the environment."""
    for name, value in {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(mailbox.port),
        "MAIL_USERNAME": "mailer",
        "MAIL_PASSWORD": "s3cret-mail",
        "MAIL_FROM": "SMS Desk <desk@example.com>",
        "PUBLIC_URL": "https://sms.example.com/",
    }.items():
        monkeypatch.setenv(f"IQSMS_{name}", value)
    return mailbox
