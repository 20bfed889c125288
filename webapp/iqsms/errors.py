"""Errors of the iQSMS binding.

The split matters to callers: a gateway that answered ``error`` processed nothing; a transport
failure on ``send.json`` may or may not have sent the messages, and only :class:`NotSentError`
proves that it did not, which is the one case where sending again is safe.
"""

from __future__ import annotations


class IqsmsError(Exception):
    """Base of every error raised by this package."""


class RequestInvalid(IqsmsError, ValueError):
    """The request was refused before sending: it breaks a rule of the API."""


class GatewayError(IqsmsError):
    """The gateway answered with ``"status": "error"``; ``description`` says why."""

    def __init__(self, description: str, reply: dict | None = None) -> None:
        super().__init__(description or "error reply without description")
        self.description = description
        self.reply = reply or {}


class AuthorizationError(GatewayError):
    """Wrong login or password (``error authorization``)."""


class TransportError(IqsmsError):
    """No usable reply: the connection failed, timed out, or the body was not the API's JSON.

    ``may_have_reached`` tells whether the gateway could have acted on the request.
    """

    may_have_reached: bool = True


class NotSentError(TransportError):
    """The request provably never reached the gateway (refused connection, DNS failure,
    connect timeout): it is safe to send it again."""

    may_have_reached = False


class OutcomeUnknownError(TransportError):
    """The request may have reached the gateway but no usable reply came back (read timeout,
    reset connection, HTTP error status, malformed body). Sending again could send twice."""

    may_have_reached = True
