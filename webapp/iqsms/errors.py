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


class AddressRefused(NotSentError):
    """The gateway URL policy does not allow connecting there (a host that is not allowed, or
    one that resolves to a loopback, private, link-local or metadata address). Nothing was
    sent: the check runs before connecting."""


class DeadlineExceeded(OutcomeUnknownError):
    """The call's total deadline passed after the request was sent, before the whole reply
    came (a gateway that answers too slowly). The gateway may have acted on it."""


class RedirectRefused(OutcomeUnknownError):
    """The gateway answered with a redirect. It is never followed: following it would send
    the login and password to another address."""


class ReplyTooLarge(OutcomeUnknownError):
    """The reply was larger than the client's cap; reading stopped there."""


class NotIqsmsReply(OutcomeUnknownError):
    """The reply was not the iQSMS API's JSON (not JSON, not an object, or missing the
    fields the endpoint answers with): the address is not an iQSMS API."""


class MalformedReply(OutcomeUnknownError):
    """The reply had the API's shape but values no gateway sends (a balance that is NaN,
    infinite or absurdly large)."""
