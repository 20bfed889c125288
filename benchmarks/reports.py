"""How fast the spending report renders, by each grouping, for a month and for a year of a
busy team's usage, and its CSV.

Builds a team with ``--campaigns`` campaigns spread over the last 365 days by five users and
six sender names (one the account's default), each sending over ``--quarter-hours`` quarter
hours, so ``campaigns x quarter-hours`` usage periods (inserted directly, in bulk), and
``--other-teams`` teams with as much usage that the report must skip. Then times
``--requests`` requests of each through ``app.test_client()``: the full page by campaign,
day, sender and user for this month and for the last 365 days, the htmx fragment, and the
CSV. Target: under 200 ms for a month and under 1 s for a year.

    python benchmarks/reports.py [--campaigns 1000] [--quarter-hours 24] [--requests 20]
                                 [--other-teams 2] [--database-url URL]

Default database: a fresh SQLite file in a temporary directory (or DATABASE_URL). A URL given
is emptied first (every table dropped): never point it at a database you keep.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from decimal import Decimal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


from flask import current_app  # noqa: E402
from web_timing import PASSWORD, fresh_app, sign_in, timed  # noqa: E402

from webapp import bulk  # noqa: E402
from webapp.domain import accounts, teams, usage  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import Campaign, Membership, Role, utcnow  # noqa: E402

SENDERS = ["MyBrand", "Shop", "News", "Promo", "Alerts", None]
CHUNK = 10_000
INSERT = (
    "INSERT INTO usage_periods (team_id, campaign_id, period_start, accepted, rejected, parts,"
    " cost, estimated_parts, estimated_cost, delivered, failed) VALUES (:team_id,"
    " :campaign_id, :period_start, :accepted, :rejected, :parts, :cost, :estimated_parts,"
    " :estimated_cost, :delivered, :failed)"
)


def build_team(name: str, campaigns: int, quarter_hours: int) -> tuple[int, str, int]:
    """A team of five users whose campaigns sent over the last 365 days; (team id, the
    owner's email, usage periods made)."""
    owner_email = f"{name.lower()}@example.com"
    owner = accounts.create_user(db.session, owner_email, PASSWORD)
    team = teams.create_team(db.session, current_app.config, name, owner)
    users = [owner]
    for n in range(4):
        user = accounts.create_user(db.session, f"{name.lower()}{n}@example.com", PASSWORD)
        db.session.add(Membership(team=team, user=user, role=Role.SENDER))
        users.append(user)
    db.session.commit()
    now = usage.period_start(utcnow())
    rows = []
    for i in range(campaigns):
        # Evenly over the year, at different times of day.
        start = now - timedelta(days=365) + timedelta(minutes=15 * ((i * 35_053) % 35_040))
        campaign = Campaign(
            team_id=team.id,
            created_by_id=users[i % len(users)].id,
            name=f"Campaign {i:04d}",
            state="finished",
            text="Hello",
            sender=SENDERS[i % len(SENDERS)],
            price_per_part=Decimal("2.50"),
        )
        db.session.add(campaign)
        db.session.flush()
        for q in range(quarter_hours):
            accepted = 50 + (i * 7 + q * 13) % 150
            parts = accepted * (1 + i % 2)
            estimated = parts if i % 10 == 0 else 0
            rows.append(
                {
                    "team_id": team.id,
                    "campaign_id": campaign.id,
                    "period_start": bulk.db_time(db.session, start + timedelta(minutes=15 * q)),
                    "accepted": accepted,
                    "rejected": (i + q) % 3,
                    "parts": parts,
                    "cost": str(Decimal("2.50") * parts),
                    "estimated_parts": estimated,
                    "estimated_cost": str(Decimal("2.50") * estimated),
                    "delivered": accepted * 9 // 10,
                    "failed": accepted // 20,
                }
            )
    db.session.commit()
    if db.engine.dialect.name != "sqlite":  # the sqlite3 driver takes no Decimal; psycopg does
        for row in rows:
            row["cost"] = Decimal(row["cost"])
            row["estimated_cost"] = Decimal(row["estimated_cost"])
    for first in range(0, len(rows), CHUNK):
        bulk.executemany(db.session, INSERT, rows[first : first + CHUNK])
        db.session.commit()
    return team.id, owner_email, len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=1_000)
    parser.add_argument("--quarter-hours", type=int, default=24)
    parser.add_argument("--other-teams", type=int, default=2)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()
    with fresh_app(args.database_url) as app:
        started = time.perf_counter()
        _team_id, email, made = build_team("Bench", args.campaigns, args.quarter_hours)
        for n in range(args.other_teams):
            made += build_team(f"Other{n}", args.campaigns, args.quarter_hours)[2]
        if db.engine.dialect.name == "postgresql":
            db.session.execute(db.text("ANALYZE usage_periods"))
            db.session.execute(db.text("ANALYZE campaigns"))
            db.session.commit()
        print(
            f"{1 + args.other_teams} teams x {args.campaigns:,} campaigns x "
            f"{args.quarter_hours} quarter hours: {made:,} usage periods in "
            f"{time.perf_counter() - started:.1f} s"
        )
        today = usage.period_start(utcnow()).date()
        client = app.test_client()
        sign_in(client, email)
        year = f"period=custom&from={today - timedelta(days=364)}&to={today}"
        hx = {"HX-Request": "true"}

        def get(path: str, headers: dict | None = None) -> None:
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.status_code)

        n = args.requests
        for period, query in (("month", "period=this-month"), ("year", year)):
            for grouping in ("campaign", "day", "sender", "user"):
                path = f"/reports/spending?{query}&by={grouping}"
                timed(f"{period}, by {grouping}", n, lambda path=path: get(path))
            path = f"/reports/spending?{query}&by=campaign"
            timed(f"{period}, by campaign (htmx fragment)", n, lambda path=path: get(path, hx))
            for grouping in ("campaign", "day"):
                path = f"/reports/spending.csv?{query}&by={grouping}"
                timed(f"{period}, CSV by {grouping}", n, lambda path=path: get(path))
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main()
