"""A client of the iQSMS JSON API that no one here wrote (PyPI's ``iqsms``), unchanged but for its
address, sends and reads statuses through `flask sandbox serve`."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

iqsms = pytest.importorskip("iqsms")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def sandbox_process(tmp_path):
    """`flask sandbox serve` as a person would start it, with quick delivery."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "IQSMS_INSTANCE_PATH": str(tmp_path)}
    command = [sys.executable, "-m", "flask", "sandbox", "serve", "--port", str(port), "--quiet"]
    command += ["--submit-delay", "0.1", "--deliver-delay", "0.2"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(base, timeout=1)  # any answer: it listens
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        assert (tmp_path / "sandbox.sqlite3").exists()
        yield base
    finally:
        process.terminate()
        process.wait(10)


def test_third_party_client_sends_and_reads_statuses(sandbox_process):
    client = iqsms.JSONClient("demo", "demo")
    client.base_url = f"{sandbox_process}/messages/v2/"
    sent = client.send(
        [
            {"clientId": "1", "phone": "79161234567", "text": "Привет", "sender": "MyBrand"},
            {"clientId": "2", "phone": "79161234568", "text": "Hello"},
            {"clientId": "3", "phone": "0", "text": "Bad phone"},
        ],
        queue_name="thirdParty1",
    )
    assert sent["status"] == "ok"
    assert [m["status"] for m in sent["messages"]] == [
        "accepted",
        "accepted",
        "invalid mobile phone",
    ]
    ids = [{"smscId": m["smscId"], "clientId": m["clientId"]} for m in sent["messages"][:2]]
    assert {m["status"] for m in client.status(ids)["messages"]} <= {"queued", "smsc submit"}

    time.sleep(0.6)  # past every delay, jitter included
    finals = {m["status"] for m in client.status(ids)["messages"]}
    assert finals <= {"delivered", "delivery error", "smsc reject"}
    popped = client.status_queue("thirdParty1", 1000)["messages"]
    assert {m["smscId"] for m in popped} == {str(m["smscId"]) for m in ids}
    assert client.status_queue("thirdParty1", 1000)["messages"] == []
    assert {s["name"] for s in client.senders()["senders"]} >= {"TEST", "MyBrand"}
    assert client.credits()["balance"][0]["type"] == "RUB"
