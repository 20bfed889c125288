"""The iQSMS client against the sandbox gateway over real HTTP on 127.0.0.1."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from webapp.iqsms import (
    AuthorizationError,
    Client,
    GatewayError,
    NotSentError,
    OutcomeUnknownError,
    OutgoingMessage,
    RequestInvalid,
    Status,
)

PHONE = "79161234567"


def msg(client_id, text="Hello", phone=PHONE, **kw):
    return OutgoingMessage(str(client_id), phone, text, **kw)


def test_version_balance_and_senders(sandbox):
    client = sandbox.client()
    assert client.version() == 2
    rub, sms = client.balance()
    assert (rub.type, rub.balance, rub.credit) == ("RUB", Decimal("1000.00"), Decimal(0))
    assert sms.type == "SMS"
    senders = {s.name: s for s in client.senders()}
    assert senders["TEST"].status == "default" and senders["TEST"].usable
    assert senders["MyBrand"].usable
    assert not senders["Promo2026"].usable and not senders["NewBrand"].usable
    assert senders["MegaFon"].status == "blocked" and senders["MegaFon"].info


def test_send_gives_every_send_time_status(sandbox):
    result = sandbox.client().send(
        [
            msg(1, sender="MyBrand"),
            msg(2, phone="12345"),
            msg(3, text="  "),
            msg(4, sender="MegaFon"),
            msg(5, sender="Promo2026"),
            msg(6, sender="Unknown"),
            msg(7, wapurl="not a url"),
            msg(8, wapurl="wap.example.ru", flash=True),
            msg(9, phone="+79161234567"),
        ]
    )
    statuses = {m.client_id: m.status for m in result.messages}
    assert statuses == {
        "1": Status.ACCEPTED,
        "2": Status.INVALID_PHONE,
        "3": Status.TEXT_EMPTY,
        "4": Status.SENDER_INVALID,
        "5": Status.SENDER_INVALID,
        "6": Status.SENDER_INVALID,
        "7": Status.WAPURL_INVALID,
        "8": Status.ACCEPTED,
        "9": Status.ACCEPTED,
    }
    assert all(m.smsc_id for m in result.messages)
    received = {m["clientId"]: m for m in sandbox.received()}
    assert received["8"]["flash"] == 1 and received["8"]["wapurl"] == "wap.example.ru"
    assert received["1"]["sender"] == "MyBrand"
    assert received["9"]["sender"] == "TEST"  # no sender: the account's default


def test_invalid_schedule_time_rejects_the_batch(sandbox):
    result = sandbox.client().send([msg(1), msg(2)], schedule_time="tomorrow at noon")
    assert {m.status for m in result.messages} == {Status.SCHEDULE_INVALID}


def test_not_enough_balance(sandbox):
    result = sandbox.client("broke", "broke").send([msg(1)])
    assert result.messages[0].status == Status.NOT_ENOUGH_BALANCE


def test_billing_details_and_balance_after_sending(sandbox):
    long_cyrillic = "Ж" * 71  # two UCS-2 parts
    result = sandbox.client().send(
        [msg(1), msg(2, text=long_cyrillic), msg(3, phone="1")], show_billing_details=True
    )
    one, two, rejected = result.messages
    assert (one.sms_count, one.cost) == (1, Decimal("2.50"))
    assert (two.sms_count, two.cost) == (2, Decimal("5.00"))
    assert rejected.sms_count is None and rejected.cost is None
    rub = next(b for b in result.balance if b.type == "RUB")
    assert rub.balance == Decimal("992.50")
    assert sandbox.client().balance()[0].balance == Decimal("992.50")


def test_request_rules_are_checked_before_sending():
    # Port 9 (discard) on loopback refuses: were the request sent, NotSentError would be raised.
    client = Client("demo", "demo", "http://127.0.0.1:9/messages/v2/")
    with pytest.raises(RequestInvalid):
        client.send([])
    with pytest.raises(RequestInvalid):
        client.send([msg(i) for i in range(201)])
    with pytest.raises(RequestInvalid):
        client.send([msg(1), msg(1)])
    with pytest.raises(RequestInvalid):
        client.send([msg(1)], status_queue_name="no")
    with pytest.raises(RequestInvalid):
        client.send([msg(1)], status_queue_name="has-dash")
    with pytest.raises(RequestInvalid):
        client.send([msg(1)], schedule_time=datetime(2030, 1, 1))  # naive
    with pytest.raises(RequestInvalid):
        client.status([str(i) for i in range(201)])
    with pytest.raises(RequestInvalid):
        client.status_queue("okName", 1001)
    with pytest.raises(RequestInvalid):
        client.status_queue("x", 10)


def test_send_many_splits_into_calls_of_200(sandbox):
    results = list(sandbox.client().send_many(msg(i) for i in range(450)))
    assert [len(r.messages) for r in results] == [200, 200, 50]
    assert len(sandbox.received()) == 450


def test_status_follows_the_delivery_timeline(sandbox, sandbox_clock):
    client = sandbox.client()
    sent = client.send([msg(i) for i in range(20)]).messages
    ids = [(m.smsc_id, m.client_id) for m in sent]
    assert {s.status for s in client.status(ids)} == {Status.QUEUED}
    assert [s.client_id for s in client.status(ids)] == [str(i) for i in range(20)]
    sandbox_clock.advance(1.6)  # past every submit (1 s ± 50%), before any delivery (≥ 1.5 s later)
    assert {s.status for s in client.status(ids)} <= {Status.SMSC_SUBMIT, Status.SMSC_REJECT}
    sandbox_clock.advance(10)
    finals = {s.status for s in client.status(ids)}
    assert finals <= {Status.DELIVERED, Status.DELIVERY_ERROR, Status.SMSC_REJECT}
    assert Status.DELIVERED in finals


def test_status_of_unknown_and_foreign_ids(sandbox):
    sent = sandbox.client("demo2", "demo2").send([msg(1)]).messages[0]
    replies = sandbox.client().status(["1", sent.smsc_id])
    assert [r.status for r in replies] == [Status.INCORRECT_ID, Status.INCORRECT_ID]


def test_status_many_splits_into_calls_of_200(sandbox):
    client = sandbox.client()
    ids = [m.smsc_id for r in client.send_many(msg(i) for i in range(401)) for m in r.messages]
    pages = list(client.status_many(ids))
    assert [len(p) for p in pages] == [200, 200, 1]
    assert [s.smsc_id for p in pages for s in p] == ids


def test_schedule_time_holds_messages(sandbox, sandbox_clock):
    client = sandbox.client()
    at = datetime.fromtimestamp(sandbox_clock.now, UTC) + timedelta(hours=1)
    sent = client.send([msg(1)], schedule_time=at, status_queue_name="later1").messages[0]
    assert sent.accepted
    sandbox_clock.advance(600)
    assert client.status([sent.smsc_id])[0].status == Status.QUEUED
    assert client.status_queue("later1") == []
    sandbox_clock.advance(3600)
    assert client.status([sent.smsc_id])[0].final
    assert sandbox.received()[0]["status"] == "accepted"


def test_status_queue_pops_what_it_returns(sandbox, sandbox_clock):
    client = sandbox.client()
    client.send([msg(i) for i in range(10)], status_queue_name="queueA")
    client.send([msg(i) for i in range(3)], status_queue_name="queueB")
    assert client.status_queue("queueA", 1000) == []  # nothing has happened yet
    sandbox_clock.advance(30)
    first = client.status_queue("queueA", 4)
    assert len(first) == 4
    rest = [s for page in client.drain_status_queue("queueA", 5) for s in page]
    # 10 final statuses plus an "smsc submit" for each that was not refused at submission
    refused = sum(s.status == Status.SMSC_REJECT for s in first + rest)
    assert len(first) + len(rest) == 20 - refused
    assert client.status_queue("queueA", 1000) == []
    assert len(client.status_queue("queueB", 1000)) >= 3  # another queue is untouched
    assert sandbox.client("demo2", "demo2").status_queue("queueB", 1000) == []  # another account


def test_wrong_password_is_an_authorization_error(sandbox):
    with pytest.raises(AuthorizationError) as caught:
        sandbox.client("demo", "wrong").balance()
    assert caught.value.description == "error authorization"


def test_error_reply_is_a_gateway_error(sandbox):
    sandbox.set_faults(error_reply=1.0, error_description="service maintenance")
    with pytest.raises(GatewayError) as caught:
        sandbox.client(read_retries=0).balance()
    assert caught.value.description == "service maintenance"
    assert not isinstance(caught.value, AuthorizationError)


@pytest.mark.parametrize(
    ("fault", "processed"),
    [("http_500", False), ("drop", False), ("garbage", False), ("lose_reply", True)],
)
def test_send_transport_failures_may_have_reached(sandbox, fault, processed):
    sandbox.set_faults(**{fault: 1.0, "endpoints": ["send.json"]})
    with pytest.raises(OutcomeUnknownError) as caught:
        sandbox.client().send([msg(1)])
    assert caught.value.may_have_reached
    # Never retried: the gateway saw the request once at most.
    assert len(sandbox.received()) == (1 if processed else 0)


def test_read_timeout_may_have_reached(sandbox):
    sandbox.set_faults(latency_ms=800, endpoints=["send.json"])
    with pytest.raises(OutcomeUnknownError):
        sandbox.client(timeout=(2, 0.2)).send([msg(1)])


def test_refused_connection_and_dns_failure_provably_did_not_send(unused_port):
    for base in (f"http://127.0.0.1:{unused_port}/messages/v2/", "http://gateway.invalid/v2/"):
        with pytest.raises(NotSentError) as caught:
            Client("demo", "demo", base, timeout=(2, 2)).send([msg(1)])
        assert not caught.value.may_have_reached


def test_idempotent_reads_retry_with_backoff(sandbox):
    sandbox.set_faults(http_500=1.0, remaining=2)
    assert sandbox.client(read_retries=2).version() == 2
    sandbox.set_faults(http_500=1.0, remaining=3)
    with pytest.raises(OutcomeUnknownError):
        sandbox.client(read_retries=2).balance()


def test_lost_queue_reply_is_not_retried_and_recovered_by_status(sandbox, sandbox_clock):
    client = sandbox.client()
    sent = client.send([msg(i) for i in range(5)], status_queue_name="lossy1").messages
    sandbox_clock.advance(30)
    sandbox.set_faults(lose_reply=1.0, remaining=1, endpoints=["statusQueue.json"])
    with pytest.raises(OutcomeUnknownError):
        client.status_queue("lossy1", 1000)
    assert client.status_queue("lossy1", 1000) == []  # popped by the lost read: gone
    recovered = client.status([m.smsc_id for m in sent])
    assert all(s.final for s in recovered)


def test_client_tolerates_odd_but_valid_replies():
    from webapp.iqsms import Balance, MessageStatus

    status = MessageStatus.from_json({"status": "delivered", "smscId": 2592608030, "clientId": 7})
    assert (status.smsc_id, status.client_id, status.final) == ("2592608030", "7", True)
    assert MessageStatus.from_json({}).status == ""
    assert not MessageStatus.from_json({"status": "something new"}).info.known
    balance = Balance.from_json({"credit": 1000000, "balance": -508784, "type": "SMS"})
    assert balance.available == Decimal(491216)
    assert Balance.from_json({"balance": "12,50", "type": "RUB"}).balance == Decimal("12.50")
