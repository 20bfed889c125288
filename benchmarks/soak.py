"""The fault soak: for ``--minutes``, campaigns of several teams flow through gunicorn, three
`flask worker` processes and the standalone sandbox, while the sandbox injects HTTP 500s,
timeouts past the workers' deadline, dropped connections, lost replies (queue pages among them)
and slow replies, workers are SIGKILLed, SIGSTOPped and SIGTERMed and started again, and one
team's gateway trickles its replies a byte at a time. Then the faults stop, everything settles
and the run is judged from the sandbox's own record (tests/fleet_soak.py, tests/fleet_audit.py).

    python benchmarks/soak.py --minutes 30 [--seed 1] [--database-url postgresql://...]

With ``--database-url`` (PostgreSQL) the run gets a schema of its own in that database, dropped
afterwards unless a check failed (or ``--keep``); without it, a SQLite file. The schema is made
by ``flask db upgrade``. Prints the figures; exits 1 when a must-be fails (sent twice, lost,
statuses missing, counters, not final).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from tests.fleet import process_env  # noqa: E402
from tests.fleet_soak import Soak, SoakOptions  # noqa: E402


def database(args: argparse.Namespace, tmp: Path) -> tuple[str, str | None]:
    """The run's database URL, and the PostgreSQL schema made for it (None on SQLite)."""
    if not args.database_url:
        return f"sqlite:///{tmp / 'soak.sqlite3'}", None
    from webapp.config import normalize_database_url

    url = normalize_database_url(args.database_url)
    schema = f"soak_{args.seed}_{os.getpid()}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}", schema


def drop_schema(url: str, schema: str) -> None:
    engine = sa.create_engine(url.split("?")[0])
    with engine.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", help="PostgreSQL (a schema of its own); else SQLite")
    parser.add_argument("--teams", type=int, default=3, help="the last one's gateway trickles")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--deadline", type=float, default=4.0, help="IQSMS_GATEWAY_DEADLINE")
    parser.add_argument("--keep", action="store_true", help="keep the folder and its logs")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="iqsms-soak-"))
    url, schema = database(args, tmp)
    env = process_env(url, tmp / "instance", "http://127.0.0.1:9/messages/v2/")
    subprocess.run(
        [sys.executable, "-m", "flask", "db", "upgrade"], cwd=ROOT, env=env, check=True,
        capture_output=True,
    )  # fmt: skip
    os.environ["IQSMS_INSTANCE_PATH"] = str(tmp / "reader")
    from webapp.app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "soak"})
    options = SoakOptions(
        minutes=args.minutes,
        seed=args.seed,
        teams=args.teams,
        workers=args.workers,
        deadline=args.deadline,
    )
    failures = ["the soak did not run to the end"]
    try:
        result = Soak(app, tmp, options).run()
        print(json.dumps(result.summary(), indent=2, ensure_ascii=False))
        failures = result.failures()
        for failure in failures:
            print(f"FAILED: {failure}")
    finally:
        from webapp.extensions import db

        with app.app_context():
            db.engine.dispose()
        # Kept to look into when something failed (or when asked): the logs, and the schema.
        if args.keep or failures:
            print(f"logs: {tmp}" + (f"; schema {schema} kept" if schema else ""))
        else:
            shutil.rmtree(tmp, ignore_errors=True)
            if schema:
                drop_schema(url, schema)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
