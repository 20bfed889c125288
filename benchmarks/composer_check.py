"""The composer's live check of a draft to one list of a million contacts, with a text of 1, 5
and 20 placeholders (each a field of the list): the time of one check, as the composer runs it
while a person types.

    python benchmarks/composer_check.py [--contacts 1000000] [--placeholders 1,5,20] [--both]
        [--overlap 10000]

``--overlap N`` also times the check of the list together with a second one of 2 N contacts,
N of them phones of the first list (their fields are the first list's contacts').
    TEST_DATABASE_URL=postgresql+psycopg://... python benchmarks/composer_check.py
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import delete, insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from webapp.app import create_app
from webapp.domain import composer
from webapp.domain.contacts import add_phones
from webapp.extensions import db
from webapp.models import Campaign, CampaignState, Contact, ContactList, Team, utcnow

FIELDS = [f"f{k:02d}" for k in range(20)]
CITIES = ["Москва", "Санкт-Петербург", "Казань", "Omsk", "Tver", "Самара", "Sochi", "Пермь"]


def fields_of(i: int) -> dict[str, str]:
    """A name unique to the contact, a city, and 18 fields of a few values each; the last
    field is missing for one contact in 500 (so the check has something to report)."""
    values = {"f00": f"Иван {i}", "f01": CITIES[i % len(CITIES)]}
    for k in range(2, 20):
        values[f"f{k:02d}"] = f"value {k}-{i % (5 + k)}"
    if i % 500 == 0:
        del values["f19"]
    return values


def fill(team: Team, contacts: int, *, as_imported: bool = True) -> ContactList:
    """The list as a CSV import writes it (its field statistics kept), or written straight
    into the table as a script might (statistics unknown: the check reads every contact)."""
    big = ContactList(team_id=team.id, name="big", field_names=FIELDS)
    db.session.add(big)
    db.session.flush()
    for start in range(0, contacts, 20_000):
        numbers = range(start, min(start + 20_000, contacts))
        if as_imported:
            add_phones(db.session, big, [(f"79{i:09d}", fields_of(i)) for i in numbers])
            continue
        rows = [
            {"list_id": big.id, "team_id": team.id, "phone": f"79{i:09d}", "fields": fields_of(i)}
            for i in numbers
        ]
        db.session.execute(insert(Contact), rows)
    db.session.commit()
    return big


def second_list(team: Team, overlap: int) -> ContactList:
    """A list of ``2 * overlap`` contacts, half of them phones of the big list."""
    vip = ContactList(team_id=team.id, name="vip", field_names=FIELDS)
    db.session.add(vip)
    db.session.flush()
    shared = [(f"79{i:09d}", fields_of(i + 1)) for i in range(overlap)]
    own = [(f"78{i:09d}", fields_of(i)) for i in range(overlap)]
    add_phones(db.session, vip, shared + own)
    db.session.commit()
    return vip


def time_checks(team: Team, lists: list[ContactList], counts: list[int]) -> None:
    for count in counts:
        text = "Hello " + " ".join("{" + name + "}" for name in FIELDS[:count])
        draft = Campaign(
            team_id=team.id,
            name=f"{count} placeholders",
            state=CampaignState.DRAFT,
            text=text,
            sender="TEST",
            list_ids=[row.id for row in lists],
        )
        db.session.add(draft)
        db.session.commit()
        began = time.perf_counter()
        result = composer.check(db.session, team, draft, utcnow())
        took = time.perf_counter() - began
        print(
            f"{count:2} placeholders: {took:6.2f} s  ({result.recipients.count:,} recipients,"
            f" parts {result.parts[0]}–{result.parts[1]}, {len(result.errors)} sections"
            " with errors)"
        )
        db.session.rollback()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--placeholders", default="1,5,20")
    parser.add_argument(
        "--both", action="store_true", help="also time a list written straight into the table"
    )
    parser.add_argument("--overlap", type=int, default=0, help="also time two lists sharing N")
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{folder}/composer.sqlite3"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        db.drop_all()
        db.create_all()
        team = Team(name="bench", status_queue_name="bench")
        db.session.add(team)
        db.session.flush()
        counts = [int(n) for n in args.placeholders.split(",")]
        for as_imported in (True, False):
            began = time.perf_counter()
            big = fill(team, args.contacts, as_imported=as_imported)
            how = "imported" if as_imported else "written outside the app: statistics unknown"
            print(
                f"list of {args.contacts:,} contacts, {len(FIELDS)} fields each, {how} "
                f"({db.engine.dialect.name}; filled in {time.perf_counter() - began:.0f} s)"
            )
            time_checks(team, [big], counts)
            if args.overlap:
                vip = second_list(team, args.overlap)
                print(f"with a second list of {2 * args.overlap:,}, {args.overlap:,} shared")
                time_checks(team, [big, vip], counts)
            if not args.both:
                break
            db.session.execute(delete(Contact))
            db.session.commit()
        db.drop_all()


if __name__ == "__main__":
    main()
