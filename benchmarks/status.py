"""Delivery statuses at scale: N messages on their way (default 1,000,000), their statuses
drained from the sandbox's status queue and applied, while the campaign page and its polling
fragment are requested.

The sandbox's state file is prepared with N accepted messages whose final statuses wait in the
team's queue (as after a large campaign), the app's database with the same N messages in one
campaign; then `flask sandbox serve` starts and the worker's status-queue tick drains it.
Prints statuses applied per second, and the 50th/95th percentile times of the campaign page
and of its polling fragment measured while the statuses flow.

    python benchmarks/status.py [--messages 1000000]      # SQLite in a temporary folder
    python benchmarks/status.py --messages 200000 --rounds 3 \
        --database-url sqlite --database-url postgresql+psycopg://postgres@127.0.0.1/bench

Each ``--database-url`` is run in turn, in the same process on the same machine (``sqlite``: a
file in a temporary folder, the default); ``--rounds`` repeats the lot, so that on a shared
machine the figures of one round were measured minutes apart. With several databases it ends
with each one's rate as a share of the first one's, per round and the best round's.
A PostgreSQL database is emptied first (every table dropped): give it one of its own; the
script refuses one that holds anything but an earlier run's data.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHUNK = 20_000
FIRST_SMSC_ID = 3_000_000_000
BENCH_EMAIL = "bench@example.com"
WEB_PROCESSES = 2  # gunicorn's workers: one per core


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_sandbox(path: Path, login: str, password: str, queue: str, count: int) -> None:
    """The sandbox as a large campaign leaves it: accepted messages, final statuses queued."""
    from webapp.sandbox.accounts import create_account
    from webapp.sandbox.store import Store

    store = Store(str(path))
    now = time.time()
    with store.transaction() as db:
        create_account(store, db, {"login": login, "password": password}, now, 0)
    for start in range(0, count, CHUNK):
        ids = range(FIRST_SMSC_ID + start, FIRST_SMSC_ID + min(start + CHUNK, count))
        with store.transaction() as db:
            db.executemany(
                "INSERT INTO messages (smsc_id, login, client_id, phone, text, send_status,"
                " parts, cost_kopecks, received_at, submit_at, final_at, final_status)"
                " VALUES (?, ?, ?, ?, 'Hello', 'accepted', 1, 250, ?, ?, ?, ?)",
                [
                    (i, login, str(i), f"7916{i % 10_000_000:07d}", now - 60, now - 50,
                     now - 40, "delivered" if i % 10 else "delivery error")
                    for i in ids
                ],
            )  # fmt: skip
            db.executemany(
                "INSERT INTO queue (login, name, smsc_id, status, visible_at) VALUES (?,?,?,?,?)",
                [(login, queue, i, "delivered" if i % 10 else "delivery error", now - 40)
                 for i in ids],
            )  # fmt: skip
    store.close()


def prepare_app(count: int, sandbox_url: str):
    """The app's side: a team, and one campaign of ``count`` accepted messages."""
    from flask_migrate import upgrade

    from webapp.app import create_app
    from webapp.domain import accounts, campaign_messages, gateways, teams
    from webapp.extensions import db
    from webapp.models import Campaign, Message, utcnow

    app = create_app({"SANDBOX_URL": sandbox_url})
    with app.app_context():
        upgrade()
        user = accounts.create_user(db.session, BENCH_EMAIL, "benchmark password")
        team = teams.create_team(db.session, app.config, "Benchmark", user)
        db.session.commit()
        now = utcnow()
        campaign = Campaign(
            team_id=team.id,
            name="One million",
            state="finished",
            text="Hello",
            sender="MyBrand",
            price_per_part=Decimal("2.50"),
            recipients=count,
            accepted=count,
            parts=count,
            cost=Decimal("2.50") * count,
            started_at=now,
            finished_at=now,
        )
        db.session.add(campaign)
        db.session.commit()
        for start in range(0, count, CHUNK):
            db.session.execute(
                Message.__table__.insert(),
                [
                    {
                        "team_id": team.id,
                        "campaign_id": campaign.id,
                        "phone": f"7916{i % 10_000_000:07d}",
                        "text": "Hello",
                        "state": "accepted",
                        "gateway_status": "accepted",
                        "smsc_id": str(FIRST_SMSC_ID + i),
                        "parts": 1,
                        "cost": Decimal("2.50"),
                        "sent_at": now,
                    }
                    for i in range(start, min(start + CHUNK, count))
                ],
            )
            db.session.commit()
        campaign_messages.refresh_statistics(db.session, count)  # as committing a campaign does
        db.session.commit()
        password = gateways.decrypt_secret(app.config, team.gateway_password_encrypted)
        return app, campaign.id, team.gateway_login, password, team.status_queue_name


def time_pages(
    web: str,
    page: str,
    fragment: str,
    events: tuple[Any, Any],
    timings: Any,
) -> None:
    """Request the campaign page and its polling fragment from the web process, as a browser
    would (a poll every 2 s is far less; this asks several times a second), until stopped.
    Each is asked first, untimed, of every web process (see :func:`warm_up`): then ``ready``
    is set, and the statuses start to flow.

    Run in a process of its own, as a browser is: in the drain's process its threads would
    wait for the drain's to let go of the interpreter (up to 5 ms each time, Python's switch
    interval) and count that wait as the page's. ``timings`` is a queue: it gets one dict of
    the times once stopped."""
    ready, stop = events
    measured: dict[str, list[float]] = {"page": [], "fragment": []}
    browser = requests.Session()
    html = browser.get(f"{web}/login", timeout=10).text
    token = re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1)
    browser.post(
        f"{web}/login",
        data={"email": BENCH_EMAIL, "password": "benchmark password", "csrf_token": token},
        timeout=10,
    )
    warm_up(browser, web, page, fragment)
    ready.set()
    while not stop.is_set():
        for name, url, headers in (
            ("page", page, {}),
            ("fragment", fragment, {"HX-Request": "true"}),
        ):
            started = time.perf_counter()
            response = browser.get(web + url, headers=headers, timeout=30)
            measured[name].append((time.perf_counter() - started) * 1000)
            if response.status_code not in (200, 286):
                raise SystemExit(f"{url} answered {response.status_code}")
        time.sleep(0.1)
    timings.put(measured)


def warm_up(browser: requests.Session, web: str, page: str, fragment: str) -> None:
    """Ask for the page and the fragment, untimed, in every one of the ``WEB_PROCESSES``: a
    process's first request of a page compiles its templates (a quarter of a second), once
    after a deploy, not while statuses flow. gunicorn gives a request to whichever process
    takes it first, so they are asked that many at a time, busy ones being taken by others,
    a few times over."""

    def ask(request: tuple[str, dict[str, str]]) -> None:
        url, headers = request
        browser.get(web + url, headers=headers, timeout=30).raise_for_status()

    with ThreadPoolExecutor(WEB_PROCESSES) as pool:
        for _ in range(3):
            for request in ((page, {}), (fragment, {"HX-Request": "true"})):
                list(pool.map(ask, [request] * WEB_PROCESSES))


@dataclass
class Run:
    """One database's figures."""

    database: str
    rate: float
    timings: dict[str, list[float]]


def empty_database(url: str) -> None:
    """Drop every table of the PostgreSQL database at ``url``: refused unless it is empty or
    holds an earlier run of this script (its only user the benchmark's)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as connection:
        metadata = sa.MetaData()
        metadata.reflect(connection)
        if "users" in metadata.tables:
            emails = connection.execute(sa.text("SELECT email FROM users")).scalars().all()
            if set(emails) - {BENCH_EMAIL}:
                raise SystemExit(f"{url} holds other data: give the benchmark its own database")
        metadata.drop_all(connection)
    engine.dispose()


def run_once(database: str, messages: int, fragment_url: str) -> Run:
    """Prepare ``messages`` on ``database`` ("sqlite" or a URL), drain them, time the pages."""
    tmp = Path(tempfile.mkdtemp(prefix="iqsms-status-"))
    os.environ["IQSMS_INSTANCE_PATH"] = str(tmp / "instance")
    if database == "sqlite":
        os.environ.pop("DATABASE_URL", None)
    else:
        empty_database(database)
        os.environ["DATABASE_URL"] = database
    port = free_port()
    sandbox_url = f"http://127.0.0.1:{port}/messages/v2/"

    started = time.perf_counter()
    app, campaign_id, login, password, queue = prepare_app(messages, sandbox_url)
    prepare_sandbox(tmp / "sandbox.sqlite3", login, password, queue, messages)
    dialect = app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0]
    print(f"prepared {messages:,} messages in {time.perf_counter() - started:.1f} s ({dialect})")

    web_port = free_port()
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "flask", "sandbox", "serve", "--quiet", "--port", str(port),
             "--state", str(tmp / "sandbox.sqlite3")],
            cwd=ROOT, stdout=subprocess.DEVNULL,
        ),
        # The web app as production serves it (README, Production: gunicorn, a worker per
        # core), in processes of its own: pages do not share the worker's interpreter.
        subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--no-control-socket", "-w", str(WEB_PROCESSES),
             "-b", f"127.0.0.1:{web_port}", "wsgi:app"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ),
    ]  # fmt: skip
    web = f"http://127.0.0.1:{web_port}"
    pages = None  # the process that times the pages
    try:
        for url in (f"http://127.0.0.1:{port}/_sandbox/", f"{web}/healthz"):
            deadline = time.monotonic() + 30
            while True:
                try:
                    requests.get(url, timeout=1)
                    break
                except requests.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)

        from webapp.domain import gateways, statuses
        from webapp.extensions import db
        from webapp.models import Campaign

        spawn = multiprocessing.get_context("spawn")
        ready, stop, timed = spawn.Event(), spawn.Event(), spawn.Queue()
        page = f"/campaigns/{campaign_id}"
        fragment = fragment_url.format(id=campaign_id)
        pages = spawn.Process(target=time_pages, args=(web, page, fragment, (ready, stop), timed))
        pages.start()
        if not ready.wait(60):
            raise SystemExit("the campaign page did not answer within 60 s")
        applied = 0
        started = time.perf_counter()
        with app.app_context():
            while applied < messages:
                report = statuses.drain_status_queues(
                    db.session,
                    client_factory=gateways.client_factory(app.config),
                    budget=60,
                    appliers=int(app.config["STATUS_APPLIERS"]),
                )
                applied += report.applied
                if not report.received:
                    break
            seconds = time.perf_counter() - started
            done = db.session.get(Campaign, campaign_id)
            counted = (done.delivered, done.failed)
            db.session.remove()
            db.engine.dispose()
        stop.set()
        timings: dict[str, list[float]] = timed.get(timeout=60)
        pages.join(60)
    finally:
        if pages is not None and pages.is_alive():
            pages.terminate()
        for process in processes:
            process.terminate()
            process.wait(20)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"applied  {applied:>10,} statuses in {seconds:6.2f} s  {applied / seconds:>9,.0f}/s")
    print(f"counters delivered {counted[0]:,}, failed {counted[1]:,}")
    for name, values in timings.items():
        if len(values) >= 2:
            print(f"{name:<9} {len(values):>4} requests  p50 {statistics.median(values):6.1f} ms"
                  f"  p95 {p95(values):6.1f} ms")  # fmt: skip
    if applied != messages or sum(counted) != messages:
        raise SystemExit(f"expected {messages:,} statuses applied and counted")
    return Run(dialect, applied / seconds, timings)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--fragment-url", default="/campaigns/{id}")
    parser.add_argument(
        "--database-url",
        action="append",
        dest="databases",
        help="sqlite (the default) or a PostgreSQL URL of its own; repeat to compare",
    )
    parser.add_argument("--rounds", type=int, default=1, help="run every database this often")
    args = parser.parse_args()
    databases = args.databases or ["sqlite"]

    rounds = []
    for number in range(1, args.rounds + 1):
        runs = []
        for database in databases:
            print(f"-- round {number}: {database.split('@')[-1]}")
            runs.append(run_once(database, args.messages, args.fragment_url))
        rounds.append(runs)
    if len(databases) < 2:
        return
    print("-- rates as a share of the first database's, in the same round")
    for number, runs in enumerate(rounds, 1):
        shares = "  ".join(
            f"{run.database} {run.rate:,.0f}/s ({run.rate / runs[0].rate:.2f}, fragment p95 "
            f"{p95(run.timings['fragment']):.1f} ms)"
            for run in runs
        )
        print(f"round {number}: {shares}")
    best = max(rounds, key=lambda runs: min(run.rate / runs[0].rate for run in runs[1:]))
    print(
        "best round: " + ", ".join(f"{run.database} {run.rate / best[0].rate:.2f}" for run in best)
    )


if __name__ == "__main__":
    main()
