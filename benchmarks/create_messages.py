"""How long creating a campaign's messages takes: 100,000 and 1,000,000 recipients.

Builds a team with two overlapping contact lists (a tenth of the phones in both) and a stop list
(one phone in a thousand), then times ``campaign_messages.create_messages`` three ways:

- plain text: one INSERT ... SELECT DISTINCT phone (what commit does without placeholders);
- placeholders rendered in SQL: the text's runs and each phone's lowest contact's fields joined
  with || (recipients.rendered_text, fallbacks included);
- placeholders rendered in Python (for comparison): contacts streamed in chunks of 10,000,
  rendered, and inserted with executemany.

    python benchmarks/create_messages.py [--sizes 100000 1000000] [--database-url URL]

Default database: a fresh SQLite file in a temporary directory (WAL, as the app runs it).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from functools import partial

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from sqlalchemy import delete, func, insert, select  # noqa: E402

from webapp.app import create_app  # noqa: E402
from webapp.domain import campaign_messages, placeholders, recipients  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import (  # noqa: E402
    Campaign,
    Contact,
    ContactList,
    Message,
    StopListEntry,
    Team,
)

CHUNK = 10_000
NAMES = ["Anna", "Boris", "Вера", "Gleb", "Dmitry", "Elena"]


def build(size: int) -> tuple[int, list[int]]:
    """A team with lists holding ``size`` distinct phones, some in both, and a stop list."""
    team = Team(name=f"bench {size}", status_queue_name=f"b{size}"[:16])
    db.session.add(team)
    db.session.flush()
    first = ContactList(team_id=team.id, name="first", field_names=["name", "code"])
    second = ContactList(team_id=team.id, name="second", field_names=["name", "code"])
    db.session.add_all([first, second])
    db.session.flush()
    overlap = size // 10
    split = size // 2
    rows = []
    for i in range(size):
        phone = f"7916{i:07d}"
        fields = {"name": NAMES[i % len(NAMES)], "code": str(i)}
        for list_id, member in ((first.id, i < split + overlap), (second.id, i >= split)):
            if member:
                rows.append(
                    {"team_id": team.id, "list_id": list_id, "phone": phone, "fields": fields}
                )
        if len(rows) >= CHUNK:
            db.session.execute(insert(Contact), rows)
            rows = []
    if rows:
        db.session.execute(insert(Contact), rows)
    db.session.execute(
        insert(StopListEntry),
        [{"team_id": team.id, "phone": f"7916{i:07d}"} for i in range(0, size, 1000)],
    )
    db.session.commit()
    return team.id, [first.id, second.id]


def python_render(campaign: Campaign, list_ids: list[int]) -> int:
    """The alternative to SQL rendering: stream, render in Python, executemany."""
    team_id = campaign.team_id
    query = (
        select(Contact.phone, Contact.fields)
        .where(
            Contact.id.in_(recipients.first_contacts(team_id, list_ids)),
            recipients.not_stopped(team_id, Contact.phone),
        )
        .order_by(Contact.id)
        .execution_options(yield_per=CHUNK)
    )
    created = 0
    for partition in db.session.execute(query).partitions(CHUNK):
        db.session.execute(
            insert(Message),
            [
                {
                    "team_id": team_id,
                    "campaign_id": campaign.id,
                    "phone": row.phone,
                    "text": placeholders.render(campaign.text, row.fields),
                    "state": "queued",
                    "gateway_status": "",
                    "parts": 0,
                }
                for row in partition
            ],
        )
        created += len(partition)
    return created


def timed(label: str, size: int, work) -> None:
    started = time.perf_counter()
    created = work()
    db.session.commit()
    seconds = time.perf_counter() - started
    print(f"{size:>9,} recipients  {label:<34} {seconds:7.2f} s  ({created:,} messages)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
        os.environ["IQSMS_INSTANCE_PATH"] = tmp
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
        with app.app_context():
            db.drop_all()
            db.create_all()
            print(f"database: {db.engine.dialect.name}")
            for size in args.sizes:
                started = time.perf_counter()
                team_id, list_ids = build(size)
                print(f"(contacts for {size:,} made in {time.perf_counter() - started:.1f} s)")
                for label, text, how in (
                    ("plain text, INSERT ... SELECT", "Sale today: 20% off.", "sql"),
                    ("{name}, rendered in SQL", "Hello {name}, your code is {code}.", "sql"),
                    ("{name}, rendered in Python", "Hello {name}, your code is {code}.", "py"),
                ):
                    campaign = Campaign(team_id=team_id, name=label, text=text, list_ids=list_ids)
                    db.session.add(campaign)
                    db.session.commit()
                    if how == "sql":
                        work = partial(
                            campaign_messages.create_messages, db.session, campaign, list_ids, []
                        )
                    else:
                        work = partial(python_render, campaign, list_ids)
                    timed(label, size, work)
                    count = db.session.scalar(
                        select(func.count()).where(Message.campaign_id == campaign.id)
                    )
                    assert count == size - len(range(0, size, 1000)), count
                    db.session.execute(delete(Message).where(Message.campaign_id == campaign.id))
                    db.session.commit()
            db.drop_all()


if __name__ == "__main__":
    main()
