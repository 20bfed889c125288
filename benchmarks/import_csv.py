"""Import a generated CSV of N rows (default 1,000,000) through the worker's import tick and
print rows/s and the tick's peak memory.

    python benchmarks/import_csv.py [rows] [--database-url URL]

Default database: a fresh SQLite file in a temporary folder. The file is made on disk first
(phone;name;city, a few invalid and duplicate rows); only the tick is measured. Peak memory is
the traced Python allocations during the tick (tracemalloc) and the process's peak RSS before
and after it (resource.getrusage), so the import is seen to stream rather than load the file.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from webapp.app import create_app
from webapp.domain import accounts, csv_import, csv_preview, teams
from webapp.extensions import db
from webapp.models import ContactImport, ContactList, ImportState, utcnow


def write_csv(path: Path, rows: int) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("phone;name;city\n")
        for i in range(rows):
            if i % 1000 == 999:
                f.write(f"not-a-phone-{i};Bad;Nowhere\n")
            elif i % 500 == 0 and i:
                f.write(f"+7 916 {(i - 1) % 10_000_000:07d};Repeat;Moscow\n")
            else:
                f.write(f"8916{i % 10_000_000:07d};Person {i};Moscow\n")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--no-tracemalloc", action="store_true", help="time without tracing (tracing slows it)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp)
        os.environ["IQSMS_INSTANCE_PATH"] = str(instance)
        url = args.database_url or f"sqlite:///{instance / 'bench.sqlite3'}"
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
        source = instance / "source.csv"
        write_csv(source, args.rows)
        size_mb = source.stat().st_size / 2**20
        with app.app_context():
            db.drop_all()
            db.create_all()
            user = accounts.create_user(db.session, "bench@example.com", "x" * 12)
            team = teams.create_team(db.session, app.config, "Bench", user)
            contact_list = ContactList(team_id=team.id, name="Bench", field_names=[])
            db.session.add(contact_list)
            db.session.flush()
            with open(source, "rb") as f:
                stored = csv_preview.store_upload(f, instance)
            sniffed = csv_preview.sniff(instance / stored)
            contact_import = ContactImport(
                team_id=team.id,
                list_id=contact_list.id,
                filename="source.csv",
                stored_path=stored,
                encoding=sniffed.encoding,
                delimiter=sniffed.delimiter,
                phone_column=sniffed.phone_column,
                state=ImportState.QUEUED,
            )
            db.session.add(contact_import)
            db.session.commit()
            import_id = contact_import.id
            db.session.expunge_all()

            rss_before = peak_rss_mb()
            if not args.no_tracemalloc:
                tracemalloc.start()
            started = time.perf_counter()
            csv_import.process_imports(db.session, instance, utcnow)
            elapsed = time.perf_counter() - started
            _, traced_peak = tracemalloc.get_traced_memory()  # (0, 0) when not tracing
            tracemalloc.stop()
            done = db.session.get(ContactImport, import_id)
            print(f"database        {db.engine.dialect.name}")
            print(f"file            {args.rows:,} rows, {size_mb:.1f} MB")
            print(
                f"result          {done.state}: {done.added:,} added, "
                f"{done.duplicates:,} duplicates, {done.invalid:,} invalid"
            )
            print(f"time            {elapsed:.1f} s")
            print(f"rate            {done.rows_read / elapsed:,.0f} rows/s")
            print(f"peak traced     {traced_peak / 2**20:.1f} MB (Python allocations in the tick)")
            rss_after = peak_rss_mb()
            print(f"peak RSS        {rss_before:.0f} MB before the tick, {rss_after:.0f} MB after")
            if args.database_url:
                db.drop_all()


if __name__ == "__main__":
    main()
