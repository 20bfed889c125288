"""What /healthz, /readyz and /metrics cost on a busy install: ``--teams`` teams with
``--campaigns`` campaigns between them, one in ``--sending-every`` of them still on its way
(their teams active), and one live worker heartbeat. Times ``--requests`` requests of each
through ``app.test_client()``: the public /readyz (answered from the process's cache between
database reads), the operator's /readyz (every active team's last drain) and /metrics.

    python benchmarks/operations.py [--teams 200] [--campaigns 20000] [--sending-every 20]
                                    [--requests 200] [--database-url URL]

Default database: a fresh SQLite file in a temporary directory (or DATABASE_URL). A URL given
is emptied first (every table dropped): never point it at a database you keep.
"""

from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import sqlalchemy as sa  # noqa: E402
from web_timing import fresh_app, timed  # noqa: E402

from webapp.extensions import db  # noqa: E402
from webapp.jobs import heartbeat  # noqa: E402
from webapp.models import Campaign, CampaignState, Team  # noqa: E402

TOKEN = "benchmark-token"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teams", type=int, default=200)
    parser.add_argument("--campaigns", type=int, default=20_000)
    parser.add_argument("--sending-every", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()

    with fresh_app(args.database_url) as app:
        app.config["METRICS_TOKEN"] = TOKEN
        db.session.execute(
            sa.insert(Team),
            [{"name": f"t{i}", "status_queue_name": f"q{i:06d}"} for i in range(args.teams)],
        )
        team_ids = db.session.scalars(sa.select(Team.id)).all()
        rows = []
        for i in range(args.campaigns):
            sending = i % args.sending_every == 0
            rows.append(
                {
                    # The sending ones spread over every team: each one active.
                    "team_id": team_ids[
                        (i // args.sending_every if sending else i) % len(team_ids)
                    ],
                    "state": CampaignState.SENDING if sending else CampaignState.FINISHED,
                    "recipients": 1000,
                    "accepted": 1000 if sending else 0,
                    "delivered": 0 if sending else 1000,
                }
            )
        db.session.execute(sa.insert(Campaign), rows)
        db.session.commit()
        heartbeat.run(app)
        client = app.test_client()
        operator = {"Authorization": f"Bearer {TOKEN}"}
        print(f"{args.teams} teams, {args.campaigns} campaigns, 1 in {args.sending_every} sending")

        def get(path: str, headers: dict | None = None) -> None:
            response = client.get(path, headers=headers or {})
            assert response.status_code == 200, (path, response.status_code)

        timed("/healthz", args.requests, lambda: get("/healthz"))
        timed("/readyz (public)", args.requests, lambda: get("/readyz"))
        timed(
            "/readyz (operator: every active team)", args.requests, lambda: get("/readyz", operator)
        )
        timed("/metrics", args.requests, lambda: get("/metrics", operator))


if __name__ == "__main__":
    main()
