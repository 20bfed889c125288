"""The provider's own JSON examples (tests/data/iqsms-provider-page.txt, the iQSMS page as
published): every reply is parsed by our client, and every request is answered by the sandbox in
the same shape as the page's reply."""

import json
import re
import threading
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from webapp.iqsms import Client, OutgoingMessage

PAGE = Path(__file__).parent / "data" / "iqsms-provider-page.txt"


def provider_examples() -> dict[str, dict[str, dict]]:
    """{"send.json": {"request": {...}, "reply": {...}}, ...} as the page gives them."""
    examples: dict[str, dict[str, dict]] = {}
    endpoint, block = None, None
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        url = re.search(r"/messages/v2/(\w+\.json)", line)
        if url:
            endpoint = url.group(1)
        if line.startswith("{"):
            block = [line]
        elif block is not None:
            block.append(line)
            if line.startswith("}"):
                kind = "request" if "request" not in examples.get(endpoint, {}) else "reply"
                examples.setdefault(endpoint, {})[kind] = json.loads("\n".join(block))
                block = None
    return examples


EXAMPLES = provider_examples()


def test_the_page_has_a_request_and_a_reply_for_each_endpoint():
    assert set(EXAMPLES) == {
        "send.json",
        "status.json",
        "statusQueue.json",
        "balance.json",
        "senders.json",
    }
    assert all(set(pair) == {"request", "reply"} for pair in EXAMPLES.values())


@pytest.fixture
def provider_replies():
    """A server that answers each endpoint with the page's example reply."""

    @Request.application
    def app(request):
        endpoint = request.path.rsplit("/", 1)[-1]
        return Response(json.dumps(EXAMPLES[endpoint]["reply"]), mimetype="application/json")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield Client("login", "password", f"http://127.0.0.1:{server.port}/messages/v2/")
    server.shutdown()


def test_client_parses_every_example_reply(provider_replies):
    client = provider_replies
    sent = client.send([OutgoingMessage("1", "71234567890", "Message text here")])
    assert [(m.status, m.smsc_id, m.client_id) for m in sent.messages] == [
        ("accepted", "12345", "1"),
        ("sender address invalid", "12346", "2"),
    ]
    assert sent.messages[0].accepted and sent.messages[1].final
    statuses = client.status([("12345", "1"), "12346"])
    assert [(s.status, s.smsc_id, s.client_id) for s in statuses] == [
        ("delivered", "12345", "1"),
        ("smsc reject", "12346", None),
    ]
    queued = client.status_queue("myQueue", 100)
    assert [(s.status, s.smsc_id) for s in queued] == [
        ("delivered", "12345"),
        ("smsc reject", "12346"),
    ]
    rub, sms = client.balance()
    assert (rub.type, rub.balance, rub.credit) == ("RUB", Decimal("0.00"), Decimal(0))
    assert (sms.type, sms.balance, sms.credit) == ("SMS", Decimal(-508784), Decimal(1000000))
    senders = {s.name: (s.status, s.info, s.usable) for s in client.senders()}
    assert senders == {
        "MyBrand": ("active", "", True),
        "3132018": ("pending", "", False),
        "MegaFon": ("blocked", "bad name", False),
        "TEST": ("default", "", True),
    }


@pytest.fixture
def provider_accounts(sandbox):
    """The page's own credentials, as sandbox accounts, with the page's sender name."""
    for login, password in (("login", "password"), ("api_login", "api_password")):
        sandbox.control(
            "POST",
            "/accounts",
            json={
                "login": login,
                "password": password,
                "balance": "100.00",
                "senders": [{"name": "MySender", "status": "active"}],
            },
        )
    return sandbox


@pytest.mark.parametrize("endpoint", sorted(EXAMPLES))
def test_sandbox_answers_every_example_request_in_the_pages_shape(provider_accounts, endpoint):
    example = EXAMPLES[endpoint]
    request = dict(example["request"])
    if endpoint == "send.json":
        request["scheduleTime"] = "2030-07-12T14:30:01Z"  # the page's 2008 date is in the past
    # Posted as the provider's PHP examples do: JSON in a form-encoded request.
    reply = requests.post(
        f"{provider_accounts.base_url}{endpoint}",
        data=json.dumps(request).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    ).json()
    assert reply["status"] == "ok"
    expected = example["reply"]
    assert set(expected) <= set(reply)
    for key in ("messages", "senders", "balance"):
        for item in reply.get(key) or []:
            sample = (expected.get(key) or [item])[0]
            assert set(sample) - {"clientId"} <= set(item)
    if endpoint == "send.json":
        assert [m["status"] for m in reply["messages"]] == ["accepted"] * 3
        assert [m["clientId"] for m in reply["messages"]] == ["1", "2", "3"]
    if endpoint == "status.json":
        assert [m["status"] for m in reply["messages"]] == ["incorrect id"] * 2
        assert reply["messages"][0]["clientId"] == "1"
