"""The fault soak, short (benchmarks/soak.py runs it for as long as asked), and the sandbox's
faults it relies on: slow replies, replies past the client's deadline, an account whose replies
trickle a byte at a time, and the record of the calls the sandbox acted on.

The soak runs on PostgreSQL (TEST_DATABASE_URL), where several workers share a database in
production; benchmarks/soak.py runs it on SQLite too.
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.fleet import wait_until
from tests.fleet_soak import Soak, SoakOptions, claim_limit, plan
from tests.helpers import TEST_DATABASE_URL


def _call(sandbox, endpoint: str, body: dict, **kwargs) -> requests.Response:
    body = {"login": "demo", "password": "demo", **body}
    return requests.post(f"{sandbox.base_url}{endpoint}", json=body, **kwargs)


def _message(client_id: str) -> dict:
    return {"messages": [{"clientId": client_id, "phone": "79161234567", "text": "Hi"}]}


# -- the sandbox's faults ------------------------------------------------------------------------


def test_a_trickled_account_is_answered_a_byte_at_a_time_and_others_at_once(sandbox):
    sandbox.set_faults(trickle_logins=["demo"], trickle_interval=0.02)
    started = time.monotonic()
    # Each byte comes well within the read timeout, so only a total deadline would end it.
    reply = _call(sandbox, "balance.json", {}, timeout=(2, 0.5))
    took = time.monotonic() - started
    assert reply.json()["status"] == "ok"
    assert took >= len(reply.content) * 0.02 * 0.9 > 0.5
    started = time.monotonic()
    other = requests.post(
        f"{sandbox.base_url}balance.json", json={"login": "demo2", "password": "demo2"}, timeout=5
    )
    assert other.json()["status"] == "ok"
    assert time.monotonic() - started < len(reply.content) * 0.02


def test_a_timed_out_call_is_acted_on_after_the_client_gave_up(sandbox):
    sandbox.set_faults(timeout=1.0, timeout_ms=1500, endpoints=["send.json"])
    with pytest.raises(requests.ReadTimeout):
        _call(sandbox, "send.json", _message("late-1"), timeout=(2, 0.5))
    # The gateway got it: it is sent, though the client never heard.
    wait_until(lambda: sandbox.received("demo"), "the late send to be acted on", 30, 0.1)
    assert [m["clientId"] for m in sandbox.received("demo")] == ["late-1"]


def test_a_slow_reply_comes_late_and_whole(sandbox):
    sandbox.set_faults(slow=1.0, slow_ms=400)
    started = time.monotonic()
    reply = _call(sandbox, "send.json", _message("slow-1"), timeout=5).json()
    assert time.monotonic() - started >= 0.4
    assert reply["messages"][0]["status"] == "accepted"
    assert sandbox.received("demo")[0]["finalStatus"] in (
        "delivered",
        "delivery error",
        "smsc reject",
    )


def test_the_sandbox_counts_the_calls_it_acted_on(sandbox):
    for _ in range(2):
        assert _call(sandbox, "senders.json", {}, timeout=5).json()["status"] == "ok"
    sandbox.set_faults(http_500=1.0)  # refused before it is processed: not counted
    assert _call(sandbox, "senders.json", {}, timeout=5).status_code == 500
    sandbox.set_faults()
    wrong = {"login": "demo", "password": "wrong"}  # not signed in: not counted either
    requests.post(f"{sandbox.base_url}balance.json", data=json.dumps(wrong), timeout=5)
    calls = sandbox.control("GET", "/calls").json()["calls"]
    assert calls == [{"login": "demo", "endpoint": "senders.json", "count": 2}]


@pytest.mark.parametrize(
    "faults", [{"slow": 1.5}, {"timeout": -0.1}, {"trickle_interval": 0}, {"trickle": 1}]
)
def test_faults_out_of_range_are_refused(sandbox, faults):
    with pytest.raises(requests.HTTPError) as refused:
        sandbox.set_faults(**faults)
    assert refused.value.response.status_code == 400


# -- the soak ------------------------------------------------------------------------------------


def test_the_plan_is_the_seeds_and_has_every_process_fault():
    options = SoakOptions(minutes=1.0, seed=14)
    first = plan(options, claim_limit(options))
    assert first == plan(options, claim_limit(options))
    assert {e.action for e in first} == {"campaign", "kill", "stop", "term"}
    assert first != plan(SoakOptions(minutes=1.0, seed=15), claim_limit(options))


@pytest.mark.skipif(
    not (TEST_DATABASE_URL or "").startswith("postgresql"),
    reason="the short soak runs on PostgreSQL (CI's time); benchmarks/soak.py runs it on SQLite",
)
# A minute of soak, then up to the claim limit (two minutes) for a killed worker's claims to be
# settled, on a loaded machine: far more than the suite's 120 s per test.
@pytest.mark.timeout(900)
def test_a_short_fault_soak_sends_nothing_twice_and_loses_nothing(app, tmp_path):
    result = Soak(app, tmp_path, SoakOptions(minutes=1.0, seed=14)).run()
    print(result.summary())
    assert result.failures() == [], (result.summary(), result.audit.failures())
    assert result.audit.sent_twice == 0
    assert result.audit.lost == []
    assert result.audit.counters_equal
    assert result.audit.created > 0 and result.audit.statuses_applied > 0
