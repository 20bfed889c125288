"""How the client's total deadline holds against a gateway that drips one byte every few
seconds (tests/slow_server.py): N concurrent balance.json calls, each with a deadline, and how
long they took; then what is left over (watchdog threads, the client's file descriptors).

    python benchmarks/gateway_deadline.py [--calls 32] [--drip 5] [--deadline 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.slow_server import dripping_server  # noqa: E402
from webapp.iqsms import Client  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=32)
    parser.add_argument("--drip", type=float, default=5.0, help="seconds between bytes")
    parser.add_argument("--deadline", type=float, default=3.0)
    args = parser.parse_args()
    fds_before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    took: list[float] = []
    errors: dict[str, int] = {}
    with dripping_server(args.drip) as slow:
        client = Client("demo", "demo", slow.base_url, deadline=args.deadline, backoff=0.2)

        def call() -> None:
            started = time.monotonic()
            try:
                client.balance()
            except Exception as exc:  # counted and printed
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            took.append(time.monotonic() - started)

        threads = [threading.Thread(target=call) for _ in range(args.calls)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        client.close()
    time.sleep(0.2)
    print(
        f"{args.calls} concurrent calls, one byte every {args.drip} s, deadline {args.deadline} s"
    )
    print(f"  took: min {min(took):.2f} s, max {max(took):.2f} s; outcomes {errors}")
    watchdogs = [t for t in threading.enumerate() if t.name == "iqsms-deadline-watchdog"]
    print(f"  watchdog threads left: {len(watchdogs)}")
    if fds_before is not None:
        print(f"  file descriptors: {fds_before} before, {len(os.listdir('/proc/self/fd'))} after")


if __name__ == "__main__":
    main()
