"""A broadcast end to end: a CSV file of N rows to every message accepted by the gateway.

`flask sandbox serve` and `flask worker` run as their own processes, on SQLite, as in
production minus the web server. The script plays the person: it queues the CSV import (the
worker imports it), commits a campaign with a `{name}` placeholder over the imported list (the
messages are created in bulk), and waits for the worker to send every message. It prints each
stage's time, messages per second, and the worker's peak memory (VmHWM). In the same run, a
bare script posts the same messages in the same batches of 200 to the same sandbox with no
database, for the rate to compare dispatch with.

``--latency-ms`` makes the sandbox wait that long before answering each send.json, as a real
round trip to the API does; dispatch is then compared with the ideal too: requests in flight
(``--in-flight``, the worker's SEND_IN_FLIGHT) x 200 messages / round trip. ``--database-url``
runs on that database (PostgreSQL) instead of a SQLite file: its tables are dropped first, so
give one of your own.

    python benchmarks/broadcast.py [--rows 100000] [--threads 3] [--in-flight 12]
        [--latency-ms 150] [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
CONTROL_TOKEN = "benchmark-control-token"
CONTROL = {"X-Sandbox-Token": CONTROL_TOKEN}
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, what: str, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise SystemExit(f"timed out waiting for {what}")


def write_csv(path: Path, rows: int) -> None:
    """Phones written the ways people write them, with a name column for the placeholder."""
    forms = ("+7 (916) {a}-{b}-{c}", "8916{a}{b}{c}", "7916{a}{b}{c}", "916 {a} {b} {c}")
    names = ("Anna", "Boris", "Вера", "Gleb")
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("phone;name;city\n")
        for i in range(rows):
            digits = f"{i:07d}"
            phone = forms[i % 4].format(a=digits[:3], b=digits[3:5], c=digits[5:])
            f.write(f"{phone};{names[i % 4]};Moscow\n")


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=3, help="DISPATCH_THREADS of the worker")
    parser.add_argument(
        "--in-flight", type=int, default=None, help="SEND_IN_FLIGHT of the worker [its default]"
    )
    parser.add_argument("--latency-ms", type=int, default=0, help="the sandbox's round trip")
    parser.add_argument("--database-url", default=None, help="[a SQLite file of its own]")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="iqsms-broadcast-"))
    port = free_port()
    env = {
        **os.environ,
        "IQSMS_INSTANCE_PATH": str(tmp / "instance"),
        "IQSMS_SANDBOX_URL": f"http://127.0.0.1:{port}/messages/v2/",
        "IQSMS_DISPATCH_THREADS": str(args.threads),
        # The sandbox's control API (off without a token) and the app share it.
        "IQSMS_SANDBOX_CONTROL_TOKEN": CONTROL_TOKEN,
    }
    env.pop("DATABASE_URL", None)
    if args.in_flight is not None:
        env["IQSMS_SEND_IN_FLIGHT"] = str(args.in_flight)
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
        drop_tables(args.database_url)
    os.environ.update(env)
    processes: list[subprocess.Popen] = []

    def start(*command: str, log: str) -> subprocess.Popen:
        out = (tmp / log).open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", *command], cwd=ROOT, env=env, stdout=out, stderr=out
        )
        processes.append(process)
        return process

    try:
        # Delivery statuses an hour later: this measures sending, not status draining
        # (benchmarks/status.py measures that).
        start("sandbox", "serve", "--quiet", "--port", str(port), "--final-only",
              "--submit-delay", "3600", "--deliver-delay", "3600",
              "--latency-ms", str(args.latency_ms), "--fault-endpoints", "send.json",
              "--state", str(tmp / "sandbox.sqlite3"), log="sandbox.log")  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _up(base), "the sandbox", 30)
        subprocess.run(
            [sys.executable, "-m", "flask", "db", "upgrade"], cwd=ROOT, env=env, check=True,
            capture_output=True,
        )  # fmt: skip

        from sqlalchemy import select

        from webapp.app import create_app
        from webapp.domain import accounts, campaigns, csv_preview, teams
        from webapp.extensions import db
        from webapp.jobs.dispatch import in_flight_per_loop
        from webapp.models import Campaign, ContactImport, ContactList, ImportState, Message, Team

        app = create_app()
        # One team: it holds every loop.
        in_flight = in_flight_per_loop(app.config, args.threads) * args.threads
        with app.app_context():
            user = accounts.create_user(db.session, "bench@example.com", "benchmark password")
            team = teams.create_team(db.session, app.config, "Benchmark", user)
            team.send_rate = 0  # no limit: measure the machinery, not the setting
            contact_list = ContactList(team_id=team.id, name="Customers")
            db.session.add(contact_list)
            db.session.commit()
            team_id, list_id, login = team.id, contact_list.id, team.gateway_login
        huge = {"balance": "100000000.00"}
        for account in (login, "demo"):
            requests.patch(
                f"{base}/_sandbox/accounts/{account}", json=huge, headers=CONTROL, timeout=5
            ).raise_for_status()
        csv_path = tmp / "customers.csv"
        write_csv(csv_path, args.rows)

        worker = start("worker", log="worker.log")

        # Stage 1: the import, queued as the upload page does, run by the worker.
        started = time.perf_counter()
        with app.app_context():
            with csv_path.open("rb") as f:
                stored, size = csv_preview.store_upload(f, Path(app.instance_path))
            sniffed = csv_preview.sniff(Path(app.instance_path) / stored)
            job = ContactImport(
                team_id=team_id,
                list_id=list_id,
                filename=csv_path.name,
                stored_path=stored,
                stored_bytes=size,
                encoding=sniffed.encoding,
                delimiter=sniffed.delimiter,
                phone_column=sniffed.phone_column,
                state=ImportState.QUEUED,
            )
            db.session.add(job)
            db.session.commit()
            job_id = job.id

            def imported():
                db.session.expire_all()
                state = db.session.scalar(
                    select(ContactImport.state).where(ContactImport.id == job_id)
                )
                db.session.rollback()  # a short read each time (see finished)
                if state == ImportState.FAILED:
                    raise SystemExit("the import failed")
                return state == ImportState.DONE

            wait_for(imported, "the import", 600)
            import_seconds = time.perf_counter() - started
            added = db.session.get(ContactImport, job_id).added

            # Stage 2: the campaign, committed as the confirmation page does.
            started = time.perf_counter()
            campaign = campaigns.new_draft(db.session, db.session.get(Team, team_id), None)
            campaign.text = "Hello, {name}! Our Moscow store has new offers for you."
            campaign.sender = "MyBrand"
            campaign.list_ids = [list_id]
            db.session.commit()
            created = campaigns.commit(db.session, campaign)
            create_seconds = time.perf_counter() - started
            campaign_id = campaign.id

            # Stage 3: the worker sends them all.
            started = time.perf_counter()

            def finished():
                # One short read each time, as the campaign page's poll makes: a transaction
                # left open would hold back PostgreSQL's clean-up of the claimed rows' old
                # versions (and SQLite's checkpoints) for the whole run.
                state = db.session.scalar(select(Campaign.state).where(Campaign.id == campaign_id))
                db.session.rollback()
                return state == "finished"

            wait_for(finished, "the campaign to finish", 1200, interval=0.02)
            dispatch_seconds = time.perf_counter() - started
            done = db.session.get(Campaign, campaign_id)
            # Accepted by the gateway, whatever delivery status has come back since.
            accepted = done.accepted + done.enroute + done.delivered + done.failed + done.expired
            others = done.rejected + done.unknown + done.queued
            messages = [
                (str(m.id), m.phone, m.text)
                for m in db.session.execute(
                    select(Message.id, Message.phone, Message.text).where(
                        Message.campaign_id == campaign_id
                    )
                )
            ]
        worker_peak = peak_memory_mb(worker.pid)
        worker.terminate()
        worker.wait(20)

        bare_seconds = bare_send(f"{base}/messages/v2/", messages, in_flight)
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait(20)

    total = import_seconds + create_seconds + dispatch_seconds
    print(f"rows in the CSV             {args.rows:>10,}")
    print(f"import                      {import_seconds:>8.2f} s  {added:,} contacts, "
          f"{added / import_seconds:,.0f} rows/s")  # fmt: skip
    print(f"campaign creation           {create_seconds:>8.2f} s  {created:,} messages")
    print(f"dispatch                    {dispatch_seconds:>8.2f} s  {accepted:,} accepted, "
          f"{accepted / dispatch_seconds:,.0f} messages/s")  # fmt: skip
    print(f"end to end                  {total:>8.2f} s")
    print(f"bare script, no database    {bare_seconds:>8.2f} s  "
          f"{len(messages) / bare_seconds:,.0f} messages/s")  # fmt: skip
    ratio = (accepted / dispatch_seconds) / (len(messages) / bare_seconds)
    print(f"dispatch / bare rate        {ratio:>8.2f}")
    if args.latency_ms:
        ideal = in_flight * 200 / (args.latency_ms / 1000)
        print(f"ideal at {args.latency_ms} ms round trip  {ideal:>8,.0f} messages/s  "
              f"({in_flight} requests in flight x 200 / round trip)")  # fmt: skip
        print(f"dispatch / ideal            {accepted / dispatch_seconds / ideal:>8.2f}")
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(f"database                    {database:>8}")
    print(f"worker peak memory          {worker_peak:>8.1f} MB")
    shutil.rmtree(tmp, ignore_errors=True)
    if accepted != args.rows or others:
        raise SystemExit(f"expected {args.rows:,} accepted, got {accepted:,} (+{others:,} other)")


def drop_tables(url: str) -> None:
    """An empty database for the run, as the test suite empties its own."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as connection:
        metadata = sa.MetaData()
        metadata.reflect(connection)
        metadata.drop_all(connection)
    engine.dispose()


def _up(base: str) -> bool:
    try:
        return requests.get(f"{base}/_sandbox/", headers=CONTROL, timeout=1).ok
    except requests.ConnectionError:
        return False


def bare_send(url: str, messages: list[tuple[str, str, str]], in_flight: int) -> float:
    """The same messages, the same batches, the same client and sandbox, as many calls at once
    as the worker makes: no database."""
    from concurrent.futures import ThreadPoolExecutor

    from webapp.iqsms import Client, OutgoingMessage, batches

    client = Client("demo", "demo", url, pool_size=in_flight)

    def send(batch: list[tuple[str, str, str]]) -> None:
        client.send(
            [OutgoingMessage(i, p, t, sender="MyBrand") for i, p, t in batch],
            status_queue_name="bareScript",
            show_billing_details=True,
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(in_flight) as calls:
        list(calls.map(send, batches(messages, 200)))
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
