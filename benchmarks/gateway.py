"""How fast the iQSMS client and the sandbox gateway move messages over loopback HTTP.

Starts `flask sandbox serve` as its own process on a fresh state file, sends N messages in calls
of 200 (send.json), then drains their N final statuses in pages of 1,000 (statusQueue.json), and
prints messages per second for each stage.

    python benchmarks/gateway.py [--messages 100000] [--senders 1]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from webapp.iqsms import Client, OutgoingMessage, batches  # noqa: E402

QUEUE = "bench1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sandbox(state: str, port: int) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "flask", "--app", "wsgi:app", "sandbox", "serve", "--quiet",
        "--port", str(port), "--state", state, "--final-only", "--control-token", "bench",
        "--submit-delay", "0", "--deliver-delay", "0", "--jitter", "0",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/_sandbox/", timeout=1)
            return process
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the sandbox did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--senders", type=int, default=1, help="concurrent send.json callers")
    args = parser.parse_args()

    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = start_sandbox(os.path.join(tmp, "sandbox.sqlite3"), port)
        try:
            base = f"http://127.0.0.1:{port}"
            huge = {"balance": "100000000.00"}
            requests.patch(
                f"{base}/_sandbox/accounts/demo", json=huge, headers={"X-Sandbox-Token": "bench"},
                timeout=5,
            ).raise_for_status()  # fmt: skip
            client = Client("demo", "demo", f"{base}/messages/v2/")
            messages = (
                OutgoingMessage(str(i), f"7900{i:07d}", f"Hello, customer {i}!", sender="MyBrand")
                for i in range(args.messages)
            )
            accepted = 0
            lock = threading.Lock()

            def send(batch: list[OutgoingMessage]) -> None:
                nonlocal accepted
                result = client.send(batch, status_queue_name=QUEUE)
                with lock:
                    accepted += sum(m.accepted for m in result.messages)

            started = time.perf_counter()
            with ThreadPoolExecutor(args.senders) as pool:
                list(pool.map(send, batches(messages, 200)))
            send_seconds = time.perf_counter() - started

            started = time.perf_counter()
            drained = sum(len(page) for page in client.drain_status_queue(QUEUE, 1000))
            drain_seconds = time.perf_counter() - started
        finally:
            sandbox.terminate()
            sandbox.wait(10)

    print(f"sent     {accepted:>9,} accepted in {send_seconds:6.2f} s  "
          f"{accepted / send_seconds:>9,.0f} messages/s")  # fmt: skip
    print(f"drained  {drained:>9,} statuses in {drain_seconds:6.2f} s  "
          f"{drained / drain_seconds:>9,.0f} statuses/s")  # fmt: skip
    if accepted != args.messages or drained != args.messages:
        raise SystemExit(f"expected {args.messages:,} accepted and drained")


if __name__ == "__main__":
    main()
