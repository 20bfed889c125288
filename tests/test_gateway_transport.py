"""The client's HTTP: a total deadline on every call (even against a gateway that drips one byte
every few seconds), no redirects followed, replies capped in size. Real servers on loopback."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from werkzeug.wrappers import Response

from tests.canned_server import canned_server, json_reply
from tests.slow_server import dripping_server
from webapp.iqsms import Client, NotSentError, OutcomeUnknownError, OutgoingMessage
from webapp.iqsms.errors import DeadlineExceeded, RedirectRefused, ReplyTooLarge

SLACK = 2.0  # a loaded machine may take this long to notice a passed deadline


def _watchdogs() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "iqsms-deadline-watchdog"]


def _settle(condition, seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_send_to_a_dripping_gateway_ends_at_its_deadline_as_outcome_unknown() -> None:
    with dripping_server(1.0) as slow:
        client = Client("demo", "demo", slow.base_url, timeout=(2, 3), deadline=2.5)
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded) as caught:
            client.send([OutgoingMessage("1", "79161234567", "Hi")])
        took = time.monotonic() - started
        assert isinstance(caught.value, OutcomeUnknownError)
        assert caught.value.may_have_reached
        assert 2.0 <= took <= 2.5 + SLACK
        # The connection was dropped, not kept for the next call.
        assert _settle(lambda: slow.open_now == 0)
        client.close()
    assert _settle(lambda: not _watchdogs())


# A reply whose end is the connection's close (no Content-Length, not chunked): the deadline's
# shutting of the socket must not pass for its end.
CLOSE_DELIMITED = (
    b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"
    b'{"status": "ok", "balance": [{"type": "RUB", "balance": 100, "credit": 0}]}'
)


def test_a_reply_cut_by_the_deadline_is_not_taken_for_a_whole_one() -> None:
    with dripping_server(0.05, CLOSE_DELIMITED) as slow:  # the head in 3 s, the body in 4
        client = Client("demo", "demo", slow.base_url, timeout=(2, 3), deadline=4.5)
        with pytest.raises(DeadlineExceeded):
            client.balance()
        client.close()


def test_idempotent_read_retries_fit_in_the_same_deadline() -> None:
    with dripping_server(1.0) as slow:
        client = Client("demo", "demo", slow.base_url, deadline=3, read_retries=5, backoff=0.1)
        started = time.monotonic()
        with pytest.raises(OutcomeUnknownError):
            client.balance()
        assert time.monotonic() - started <= 3 + SLACK
        assert slow.requests == 1  # no time was left for a retry
    assert _settle(lambda: not _watchdogs())


def test_many_concurrent_calls_each_end_at_their_deadline() -> None:
    with dripping_server(2.0) as slow:
        client = Client("demo", "demo", slow.base_url, deadline=2, read_retries=0)
        errors: list[Exception] = []
        ends: list[float] = []

        def call() -> None:
            try:
                client.balance()
            except Exception as exc:
                errors.append(exc)
            ends.append(time.monotonic())

        started = time.monotonic()
        threads = [threading.Thread(target=call) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(errors) == 12 and all(isinstance(e, DeadlineExceeded) for e in errors)
        assert max(ends) - started <= 2 + SLACK + 1
        assert _settle(lambda: slow.open_now == 0)
    assert _settle(lambda: not _watchdogs())


def test_a_refused_connection_is_not_sent(unused_port) -> None:
    client = Client("demo", "demo", f"http://127.0.0.1:{unused_port}/messages/v2/", deadline=3)
    with pytest.raises(NotSentError):
        client.send([OutgoingMessage("1", "79161234567", "Hi")])


def test_a_fast_gateway_reuses_its_connection_after_a_deadline_elsewhere(sandbox) -> None:
    client = sandbox.client(deadline=5)
    assert client.version() == 2
    with dripping_server(1.0) as slow, pytest.raises(DeadlineExceeded):
        Client("demo", "demo", slow.base_url, deadline=1, read_retries=0).balance()
    assert client.version() == 2  # the pool of another client is untouched


def test_redirects_are_never_followed() -> None:
    with canned_server(lambda r: json_reply({"status": "ok", "balance": []})) as target:

        def redirect(request):
            return Response("", 307, headers={"Location": target.base_url + "balance.json"})

        with canned_server(redirect) as redirecting:
            client = Client("demo", "secret", redirecting.base_url, deadline=5)
            with pytest.raises(RedirectRefused) as caught:
                client.balance()
            assert "307" in str(caught.value)
            assert len(redirecting.received) == 1  # not retried either
        assert target.received == []  # the login and password went nowhere else


@pytest.mark.parametrize("chunked", [False, True])
def test_replies_over_the_cap_are_refused(chunked: bool) -> None:
    body = b'{"status": "ok", "balance": [], "pad": "' + b"x" * (3 * 1024 * 1024) + b'"}'

    def huge(request):
        if chunked:
            return Response(iter([body[i : i + 65536] for i in range(0, len(body), 65536)]))
        return Response(body, content_type="application/json")

    with canned_server(huge) as server:
        client = Client("demo", "demo", server.base_url, max_reply_bytes=1024 * 1024)
        with pytest.raises(ReplyTooLarge):
            client.balance()
        assert len(server.received) == 1
        # Under the cap, the same reply is read.
        assert Client("demo", "demo", server.base_url).balance() == []


def test_a_deadline_before_the_request_left_is_not_sent() -> None:
    # A server that accepts the connection and never speaks TLS: the handshake hangs, the
    # deadline ends it, and nothing was sent.
    with socket.create_server(("127.0.0.1", 0)) as listening:
        port = listening.getsockname()[1]
        client = Client("demo", "demo", f"https://127.0.0.1:{port}/messages/v2/", deadline=1.5)
        started = time.monotonic()
        with pytest.raises(NotSentError):
            client.send([OutgoingMessage("1", "79161234567", "Hi")])
        assert time.monotonic() - started <= 1.5 + SLACK
