"""What the web benchmarks share: an app on a fresh database, signing a test client in, and
timing a request's p50/p95."""

from __future__ import annotations

import os
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import Flask
from flask.testing import FlaskClient

from webapp.app import create_app
from webapp.extensions import db

PASSWORD = "benchmark password"


@contextmanager
def fresh_app(database_url: str | None) -> Iterator[Flask]:
    """An app on an empty schema (a temporary SQLite file unless ``database_url`` is given),
    with its application context pushed."""
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite:///{tmp}/bench.sqlite3"
        os.environ["IQSMS_INSTANCE_PATH"] = os.path.join(tmp, "instance")
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
        with app.app_context():
            db.drop_all()
            db.create_all()
            print(f"database: {db.engine.dialect.name}")
            yield app


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
