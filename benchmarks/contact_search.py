"""Searching one contact list: a phone prefix (by the index), a name that matches at once, a
field value most contacts have, and a query nothing matches (which reads one window of
contact_search.WINDOW contacts' field values, then offers "search further"): the time of one
page of each.

    python benchmarks/contact_search.py [--contacts 200000]   # SQLite in a temporary folder
    DATABASE_URL=postgresql://... python benchmarks/contact_search.py
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from webapp.app import create_app
from webapp.domain import contacts
from webapp.extensions import db
from webapp.models import Contact, ContactList, Team

QUERIES = ("7916000", "Иван 5", "москва", "zzz-no-match")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=200_000)
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{folder}/search.sqlite3"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        db.drop_all()
        db.create_all()
        team = Team(name="bench", status_queue_name="bench")
        db.session.add(team)
        db.session.flush()
        big = ContactList(team_id=team.id, name="big", field_names=["name", "city"])
        db.session.add(big)
        db.session.flush()
        for start in range(0, args.contacts, 20_000):
            rows = [
                {
                    "list_id": big.id,
                    "team_id": team.id,
                    "phone": f"7916{i:07d}",
                    "fields": {"name": f"Иван {i}", "city": "Москва"},
                }
                for i in range(start, min(start + 20_000, args.contacts))
            ]
            db.session.execute(insert(Contact), rows)
        db.session.commit()
        print(f"list of {args.contacts:,} contacts ({db.engine.dialect.name})")
        for query in QUERIES:
            began = time.perf_counter()
            page = contacts.contacts_page(db.session, big, query=query)
            took = time.perf_counter() - began
            print(f"{query!r:16} {len(page.contacts):3} on the page  {took * 1000:7.0f} ms")
        db.session.remove()  # its open transaction would block DROP TABLE on PostgreSQL
        db.drop_all()


if __name__ == "__main__":
    main()
