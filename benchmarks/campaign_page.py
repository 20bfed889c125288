"""How fast a 1,000,000-message campaign's page and its polling fragment render.

Builds one team with one campaign of ``--size`` messages (inserted with the driver's
executemany in chunks, counters set as the worker keeps them), signs in through the login
form, then times ``--requests`` requests of each through ``app.test_client()``:

- the full campaign page (summary + first page of the table),
- the polling fragment (what htmx asks every 2 s),
- the fragment deep in the table (keyset ``after=`` near the end), filtered by a state,
  sorted by phone, and searched by a phone prefix,
- the first 100,000 rows of the CSV export (rows per second).

    python benchmarks/campaign_page.py [--size 1000000] [--requests 200] [--database-url URL]

Default database: a fresh SQLite file in a temporary directory. A URL given is emptied first
(every table dropped): never point it at a database you keep.
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
from sqlalchemy import func, select  # noqa: E402
from web_timing import PASSWORD, fresh_app, sign_in, timed  # noqa: E402

from webapp import bulk  # noqa: E402
from webapp.domain import accounts, teams  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import Campaign, Message, utcnow  # noqa: E402

CHUNK = 20_000
# The share of each state (of 100): most delivered, some on their way, a few failed.
MIX = [("delivered", 80), ("failed", 6), ("expired", 2), ("enroute", 8), ("accepted", 2)]
MIX += [("unknown", 1), ("rejected", 1)]
STATES = [state for state, share in MIX for _ in range(share)]
INSERT = (
    "INSERT INTO messages (team_id, campaign_id, phone, text, state, gateway_status, parts, "
    "cost, cost_estimated, sent_at, final_at, checks) VALUES (:team_id, :campaign_id, :phone, "
    ":text, :state, :gateway_status, 1, :cost, :cost_estimated, :sent_at, :final_at, 0)"
)


def build(size: int) -> tuple[int, str]:
    """A team, its owner and one sending campaign of ``size`` messages; (campaign id, email)."""
    email = "bench@example.com"
    user = accounts.create_user(db.session, email, PASSWORD)
    team = teams.create_team(db.session, current_app.config, "Bench", user)
    db.session.flush()
    campaign = Campaign(
        team_id=team.id,
        name="Million",
        state="sending",
        text="Hello",
        sender="MyBrand",
        recipients=size,
        price_per_part=Decimal("2.50"),
        started_at=utcnow(),
    )
    db.session.add(campaign)
    db.session.commit()
    sent = bulk.db_time(db.session, utcnow() - timedelta(hours=1))
    final = bulk.db_time(db.session, utcnow())
    cost = 2.5 if db.engine.dialect.name == "sqlite" else Decimal("2.50")
    started = time.perf_counter()
    for start in range(0, size, CHUNK):
        rows = []
        for i in range(start, min(start + CHUNK, size)):
            state = STATES[(i * 37) % len(STATES)]
            rows.append(
                {
                    "team_id": team.id,
                    "campaign_id": campaign.id,
                    # Phones not in id order, so sorting by phone is real work.
                    "phone": f"79{16 + i % 3}{(i * 7_919) % 10_000_000:07d}",
                    "text": "Hello",
                    "state": state,
                    "gateway_status": state,
                    "cost": cost,
                    "cost_estimated": False,
                    "sent_at": sent,
                    "final_at": final if state in ("delivered", "failed", "expired") else None,
                }
            )
        bulk.executemany(db.session, INSERT, rows)
        db.session.commit()
    counts = dict(
        db.session.execute(
            select(Message.state, func.count())
            .where(Message.campaign_id == campaign.id)
            .group_by(Message.state)
        ).all()
    )
    campaign = db.session.get(Campaign, campaign.id)
    for state, n in counts.items():
        setattr(campaign, state, n)
    campaign.parts = size
    campaign.cost = Decimal("2.50") * size
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(db.text("ANALYZE messages"))
        db.session.commit()
    print(f"inserted {size:,} messages in {time.perf_counter() - started:.1f} s: {counts}")
    return campaign.id, email


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()
    with fresh_app(args.database_url) as app:
        campaign_id, email = build(args.size)
        deep = db.session.scalar(
            select(Message.id)
            .where(Message.campaign_id == campaign_id)
            .order_by(Message.id)
            .offset(2_000)
            .limit(1)
        )
        client = app.test_client()
        sign_in(client, email)
        page = f"/campaigns/{campaign_id}"
        hx = {"HX-Request": "true"}

        def get(path: str, headers: dict | None = None) -> None:
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.status_code)

        n = args.requests
        timed("full campaign page", n, lambda: get(page))
        timed("polling fragment", n, lambda: get(f"{page}?seen=x&wait=2", hx))
        timed("fragment, deep page (after=, newest)", n, lambda: get(f"{page}?after={deep}", hx))
        timed("fragment, state=failed", n, lambda: get(f"{page}?state=failed", hx))
        timed("fragment, sort=phone", n, lambda: get(f"{page}?sort=phone", hx))
        timed("fragment, search q=7917123", n, lambda: get(f"{page}?q=7917123", hx))
        timed("campaigns list", n, lambda: get("/campaigns"))

        started = time.perf_counter()
        response = client.get(f"{page}/messages.csv", buffered=False)
        rows = 0
        for chunk in response.response:
            rows += chunk.count(b"\n")
            if rows >= 100_000:
                break
        response.close()
        elapsed = time.perf_counter() - started
        print(f"CSV export: {rows:,} rows in {elapsed:.2f} s ({rows / elapsed:,.0f} rows/s)")
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main()
