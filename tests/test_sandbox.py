"""The sandbox gateway's protocol, state and controls, spoken to as raw HTTP like any client."""

import json

import requests

from tests.gateway_fixtures import start_sandbox
from webapp.iqsms import OutgoingMessage, Status
from webapp.sandbox import Settings


def post(sandbox, endpoint, body, login="demo", password="demo", **kw):
    payload = {"login": login, "password": password, **body}
    response = requests.post(f"{sandbox.base_url}{endpoint}", timeout=5, json=payload, **kw)
    assert response.status_code == 200
    return response.json()


def send(sandbox, messages, **body):
    return post(sandbox, "send.json", {"messages": messages, **body})


def m(client_id, phone="79161234567", text="Hi", **extra):
    return {"clientId": str(client_id), "phone": phone, "text": text, **extra}


def test_json_body_is_read_whatever_the_content_type(sandbox):
    body = json.dumps({"login": "demo", "password": "demo"}).encode()
    for content_type in ("application/x-www-form-urlencoded", "text/plain", None):
        headers = {"Content-Type": content_type} if content_type else {}
        reply = requests.post(
            f"{sandbox.base_url}balance.json", data=body, headers=headers, timeout=5
        ).json()
        assert reply["status"] == "ok"


def test_a_body_larger_than_any_call_is_refused_unread(sandbox):
    """Without credentials, a stranger's 8 MB body is refused before it is read, also when the
    sandbox is mounted inside the dashboard (where the dashboard's limit does not reach)."""
    big = b'{"login": "demo", "password": "demo", "x": "' + b"x" * (8 * 1024 * 1024) + b'"}'
    response = requests.post(f"{sandbox.base_url}balance.json", data=big, timeout=30)
    assert response.status_code == 413
    assert post(sandbox, "balance.json", {})["status"] == "ok"


def test_error_replies(sandbox):
    bad_json = requests.post(f"{sandbox.base_url}send.json", data=b"{not json", timeout=5)
    assert bad_json.json() == {"status": "error", "description": "invalid json"}
    assert post(sandbox, "balance.json", {}, password="nope") == {
        "status": "error",
        "description": "error authorization",
    }
    assert post(sandbox, "balance.json", {}, login="nobody")["description"] == "error authorization"
    too_many = send(sandbox, [m(i) for i in range(201)])
    assert too_many["status"] == "error" and too_many["description"] == "too many messages"
    assert send(sandbox, [])["status"] == "error"
    assert sandbox.received() == []  # an error reply processed nothing


def test_invalid_queue_name_rejects_every_message(sandbox):
    reply = send(sandbox, [m(1), m(2)], statusQueueName="a b")
    assert [x["status"] for x in reply["messages"]] == [Status.QUEUE_NAME_INVALID] * 2


def test_both_schedule_time_forms_are_accepted(sandbox):
    for when in ("2030-07-12T14:30:01Z", "2030-01-01T12:30:01+00:00", "2030-01-01T15:30:01+03:00"):
        assert send(sandbox, [m(1)], scheduleTime=when)["messages"][0]["status"] == "accepted"
    for when in ("2030-07-12 14:30", "12.07.2030"):
        assert send(sandbox, [m(1)], scheduleTime=when)["messages"][0]["status"] == (
            Status.SCHEDULE_INVALID
        )


def test_status_queue_requests(sandbox, sandbox_clock):
    send(sandbox, [m(i) for i in range(5)], statusQueueName="myQueue1")
    sandbox_clock.advance(30)
    assert post(sandbox, "statusQueue.json", {})["description"] == "absent status queue name"
    invalid = post(sandbox, "statusQueue.json", {"statusQueueName": "x!"})
    assert invalid["description"] == "invalid status queue name"
    one = post(sandbox, "statusQueue.json", {"statusQueueName": "myQueue1"})  # default limit 1
    assert len(one["messages"]) == 1
    three = post(
        sandbox, "statusQueue.json", {"statusQueueName": "myQueue1", "statusQueueLimit": "3"}
    )
    assert len(three["messages"]) == 3
    assert all(isinstance(x["smscId"], str) for x in three["messages"])


def test_balance_falls_by_parts_times_price(sandbox):
    text = "Ж" * 140  # three UCS-2 parts at 2.50
    reply = send(sandbox, [m(1, text=text)], showBillingDetails=True)
    message = reply["messages"][0]
    assert (message["smsCount"], message["msgCost"]) == (3, "7.50")
    assert reply["balance"][0] == {"credit": 0.0, "balance": "992.50", "type": "RUB"}


def test_sms_billed_account_spends_parts(sandbox):
    reply = post(sandbox, "send.json", {"messages": [m(1, text="a" * 200)]}, "smsonly", "smsonly")
    assert reply["messages"][0]["status"] == "accepted"
    sms = post(sandbox, "balance.json", {}, "smsonly", "smsonly")["balance"][1]
    assert sms == {"credit": 0, "balance": 4998, "type": "SMS"}


def test_balance_runs_out_mid_batch_and_credit_is_honoured(sandbox):
    sandbox.control("PATCH", "/accounts/demo", json={"balance": "5.00", "credit": "2.50"})
    statuses = [x["status"] for x in send(sandbox, [m(i) for i in range(5)])["messages"]]
    assert statuses == ["accepted"] * 3 + [Status.NOT_ENOUGH_BALANCE] * 2
    assert post(sandbox, "balance.json", {})["balance"][0]["balance"] == "-2.50"


def test_pending_sender_is_approved_after_the_delay(sandbox, sandbox_clock):
    assert send(sandbox, [m(1, sender="Promo2026")])["messages"][0]["status"] == (
        Status.SENDER_INVALID
    )
    sandbox_clock.advance(31)
    senders = {s["name"]: s["status"] for s in post(sandbox, "senders.json", {})["senders"]}
    assert senders["Promo2026"] == "active" and senders["NewBrand"] == "active"
    assert senders["MegaFon"] == "blocked"
    assert send(sandbox, [m(1, sender="Promo2026")])["messages"][0]["status"] == "accepted"


def test_legacy_method_paths(sandbox):
    for path in ("balance", "balance/", "credits/", "senders/", "version"):
        response = requests.post(
            f"{sandbox.base_url}{path}", json={"login": "demo", "password": "demo"}, timeout=5
        )
        assert response.json()["status"] == "ok", path


def test_state_survives_a_restart(tmp_path, sandbox_clock):
    path = str(tmp_path / "state.sqlite3")
    first = start_sandbox(path, Settings(), sandbox_clock)
    result = first.client().send(
        [OutgoingMessage("1", "79161234567", "Hi")], status_queue_name="keep1"
    )
    smsc_id = result.messages[0].smsc_id
    first.server.shutdown()
    first.gateway.store.close()

    second = start_sandbox(path, Settings(), sandbox_clock)
    try:
        sandbox_clock.advance(60)
        client = second.client()
        assert client.status([smsc_id])[0].final
        assert smsc_id in {s.smsc_id for s in client.status_queue("keep1", 1000)}
        assert client.balance()[0].balance < 1000
        again = client.send([OutgoingMessage("2", "79161234567", "Hi")]).messages[0]
        assert int(again.smsc_id) > int(smsc_id)  # ids are never reused
    finally:
        second.server.shutdown()
        second.gateway.store.close()


def test_outcomes_follow_the_ratios_and_the_seed(tmp_path, sandbox_clock):
    def outcomes(name, seed):
        running = start_sandbox(str(tmp_path / name), Settings(seed=seed), sandbox_clock)
        try:
            client = running.client()
            client.balance()
            running.control("PATCH", "/accounts/demo", json={"balance": "100000"})
            ids = [
                x.smsc_id
                for r in client.send_many(
                    OutgoingMessage(str(i), "79161234567", "Hi") for i in range(2000)
                )
                for x in r.messages
            ]
            sandbox_clock.advance(60)
            return [s.status for page in client.status_many(ids) for s in page]
        finally:
            running.server.shutdown()
            running.gateway.store.close()

    first, again, other = outcomes("a", 7), outcomes("b", 7), outcomes("c", 8)
    assert first == again
    assert first != other
    delivered = first.count(Status.DELIVERED) / len(first)
    assert 0.87 < delivered < 0.93
    assert first.count(Status.DELIVERY_ERROR) and first.count(Status.SMSC_REJECT)


def control(sandbox, method, path, **kw):
    """A control call with the sandbox's token, whatever its answer."""
    headers = {"X-Sandbox-Token": sandbox.gateway.settings.control_token}
    return requests.request(
        method, f"{sandbox.root}/_sandbox{path}", headers=headers, timeout=5, **kw
    )


def test_control_api(sandbox):
    created = control(
        sandbox,
        "POST",
        "/accounts",
        json={"login": "team7", "password": "s3cret", "balance": "12.34"},
    )
    assert created.status_code == 201
    again = control(sandbox, "POST", "/accounts", json={"login": "team7", "password": "x"})
    assert again.status_code == 409
    balance = post(sandbox, "balance.json", {}, "team7", "s3cret")["balance"][0]
    assert balance["balance"] == "12.34"
    assert control(sandbox, "PUT", "/faults", json={"drop": 2}).status_code == 400
    assert control(sandbox, "PUT", "/faults", json={"explode": 1}).status_code == 400
    assert (
        control(sandbox, "PATCH", "/accounts/team7", json=["not", "an", "object"]).status_code
        == 400
    )
    assert control(sandbox, "PATCH", "/accounts/team7", json={"balance": "lots"}).status_code == 400
    overview = sandbox.control("GET", "/").json()
    assert {"demo", "team7"} <= {a["login"] for a in overview["accounts"]}
    assert sandbox.control("GET", "/accounts/team7").json() == {
        "login": "team7", "billing": "RUB", "balance": "12.34", "credit": "0.00",
        "sms_balance": 0, "sms_credit": 0, "price": "2.50",
    }  # fmt: skip
    assert control(sandbox, "GET", "/accounts/nobody").status_code == 404


def test_top_up_adds_to_the_balance(sandbox):
    topped = sandbox.control("POST", "/accounts/demo/top-up", json={"amount": "250.50"}).json()
    assert topped == {"login": "demo", "balance": "1250.50"}
    assert post(sandbox, "balance.json", {})["balance"][0]["balance"] == "1250.50"
    for bad in ("0", "-5", "NaN", "Infinity", "lots", None):
        reply = control(sandbox, "POST", "/accounts/demo/top-up", json={"amount": bad})
        assert reply.status_code == 400, bad
    assert (
        control(sandbox, "POST", "/accounts/nobody/top-up", json={"amount": "1"}).status_code == 404
    )


def test_recent_messages_come_newest_first_a_page_at_a_time(sandbox):
    ids = [x["smscId"] for x in send(sandbox, [m(i) for i in range(5)])["messages"]]
    page = sandbox.control("GET", "/accounts/demo/messages?recent=2").json()
    assert [x["smscId"] for x in page["messages"]] == ids[:-3:-1] and page["more"]
    older = sandbox.control("GET", f"/accounts/demo/messages?recent=2&before={ids[3]}").json()
    assert [x["smscId"] for x in older["messages"]] == [ids[2], ids[1]] and older["more"]
    last = sandbox.control("GET", f"/accounts/demo/messages?recent=2&before={ids[1]}").json()
    assert [x["smscId"] for x in last["messages"]] == [ids[0]] and not last["more"]
    assert [x["smscId"] for x in sandbox.received()] == ids  # without ?recent: all, oldest first


def test_faults_can_target_endpoints_and_stop_after_a_count(sandbox):
    sandbox.set_faults(http_500=1.0, endpoints=["send.json"], remaining=2)
    assert post(sandbox, "balance.json", {})["status"] == "ok"  # not a targeted endpoint
    url = f"{sandbox.base_url}send.json"
    body = {"login": "demo", "password": "demo", "messages": [m(1)]}
    codes = [requests.post(url, json=body, timeout=5).status_code for _ in range(3)]
    assert codes == [500, 500, 200]


def test_fault_rates_apply_to_about_that_share_of_requests(sandbox):
    sandbox.set_faults(http_500=0.3)
    url = f"{sandbox.base_url}version.json"
    body = {"login": "demo", "password": "demo"}
    codes = [requests.post(url, json=body, timeout=5).status_code for _ in range(200)]
    assert 30 < codes.count(500) < 90
