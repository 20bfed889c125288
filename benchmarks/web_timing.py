"""What the web benchmarks share: signing a test client in, and timing a request's p50/p95."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable

from flask.testing import FlaskClient

PASSWORD = "benchmark password"


def sign_in(client: FlaskClient, email: str) -> None:
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1)  # type: ignore[union-attr]
    response = client.post(
        "/login", data={"csrf_token": token, "email": email, "password": PASSWORD}
    )
    assert response.status_code == 302, response.status_code


def timed(label: str, requests: int, call: Callable[[], object], width: int = 44) -> None:
    """Call ``call`` ``requests`` times (after one warm-up call) and print p50 and p95."""
    call()  # warm up: templates compiled, caches filled
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p95 = times[max(0, int(len(times) * 0.95) - 1)]
    print(f"{label:<{width}} p50 {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms")
