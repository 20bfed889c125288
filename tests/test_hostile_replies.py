"""Hostile or broken gateway replies give a clear error, never a crash or a lost cost: a huge
smsCount, NaN or infinite balances, sender names longer than the column. A real HTTP server
on loopback gives those replies."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from werkzeug.wrappers import Request, Response

from tests.canned_server import canned_server, json_reply, raw_json_reply
from tests.helpers import HX, campaign_row, make_campaign, states, team_of, tick
from webapp import iqsms
from webapp.domain import gateways
from webapp.extensions import db
from webapp.jobs import balance as balance_job
from webapp.models import BalanceSnapshot, SenderName, Team

BALANCE = {"status": "ok", "balance": [{"type": "RUB", "balance": "100.00", "credit": "0"}]}


def gateway(**answers: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """An iQSMS look-alike: ``answers`` by endpoint (``send``, ``balance``, ``senders``)."""

    def answer(request: Request) -> Response:
        endpoint = request.path.rsplit("/", 1)[-1].removesuffix(".json")
        if endpoint in answers:
            return answers[endpoint](request)
        if endpoint == "statusQueue":
            return json_reply({"status": "error", "description": "queue is empty"})
        return json_reply(BALANCE if endpoint == "balance" else {"status": "ok", "senders": []})

    return answer


def on(app, person, url: str) -> Team:
    app.config["GATEWAY_ALLOWED_HOSTS"] = "127.0.0.1"  # the hostile server runs on loopback
    with app.app_context():
        team = db.session.get(Team, team_of(app, person).id)
        gateways.use_iqsms(app.config, team, url, "demo", "demo")
        db.session.commit()
    return team_of(app, person)


def absurd_billing(request: Request) -> Response:
    messages = json.loads(request.get_data())["messages"]
    return json_reply(
        {
            "status": "ok",
            "messages": [
                {
                    "clientId": m["clientId"],
                    "smscId": f"s{m['clientId']}",
                    "status": "accepted",
                    "smsCount": 10**30,
                    "msgCost": "2.50",
                }
                for m in messages
            ],
            "balance": [{"type": "RUB", "balance": 1e308 * 10}],
        }
    )


def test_json_nested_past_the_parsers_depth_is_not_an_iqsms_reply() -> None:
    with canned_server(lambda request: raw_json_reply("[" * 200_000)) as hostile:
        client = iqsms.Client("demo", "demo", hostile.base_url, deadline=10, read_retries=0)
        with pytest.raises(iqsms.NotIqsmsReply, match="not JSON"):
            client.balance()


def test_a_huge_sms_count_keeps_the_messages_accepted_and_their_cost(
    app, make_person, caplog
) -> None:
    ann = make_person("ann@example.com")
    with canned_server(gateway(send=absurd_billing)) as hostile:
        team = on(app, ann, hostile.base_url)
        campaign_id = make_campaign(app, team, 450, text="Hello", sender=None)
        with caplog.at_level(logging.WARNING, logger="webapp.iqsms.types"):
            for _ in range(5):
                tick(app, budget=10)
                if states(app, campaign_id).get("queued", 0) == 0:
                    break
    assert states(app, campaign_id) == {"accepted": 450}
    campaign = campaign_row(app, campaign_id)
    assert campaign.parts == 450  # counted from the text instead
    assert campaign.cost == Decimal("1125.00")  # the gateway's own msgCost, kept
    assert "absurd smsCount" in caplog.text


HOSTILE_BALANCES = [
    '{"status": "ok", "balance": [{"type": "RUB", "balance": NaN, "credit": 0}]}',
    '{"status": "ok", "balance": [{"type": "RUB", "balance": Infinity, "credit": 0}]}',
    '{"status": "ok", "balance": [{"type": "RUB", "balance": "-Infinity", "credit": 0}]}',
    '{"status": "ok", "balance": [{"type": "RUB", "balance": 1e400, "credit": 0}]}',
    '{"status": "ok", "balance": [{"type": "RUB", "balance": "1e30", "credit": 0}]}',
    '{"status": "ok", "balance": [{"type": "RUB", "balance": "12.00", "credit": "nan"}]}',
    '{"status": "ok", "balance": [{"type": "RUB", "balance": "twelve", "credit": 0}]}',
]


@pytest.mark.parametrize("body", HOSTILE_BALANCES)
def test_a_malformed_balance_is_refused_where_the_person_looks(app, make_person, body) -> None:
    ann = make_person("ann@example.com")
    with canned_server(gateway(balance=lambda r: raw_json_reply(body))) as hostile:
        team = on(app, ann, hostile.base_url)
        form = {"mode": "iqsms", "login": "demo", "password": "", "url": hostile.base_url}
        checked = ann.post("/team/gateway/test", form)
        assert checked.status_code == 200
        assert "the gateway&#39;s reply is malformed" in checked.text

        refreshed = ann.post("/balance/refresh", headers=HX)
        assert refreshed.status_code == 200
        assert "the gateway&#39;s reply is malformed" in refreshed.text

        with app.app_context():
            now = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
            failures = balance_job.snapshot_due_teams(
                db.session, lambda: now, gateways.client_factory(app.config), timedelta(hours=1)
            )
            assert "malformed" in failures[team.id]
            assert db.session.scalar(sa.select(sa.func.count()).select_from(BalanceSnapshot)) == 0
    page = ann.get("/balance").text
    assert "the gateway&#39;s reply is malformed" in page


def long_names(request: Request) -> Response:
    return json_reply(
        {
            "status": "ok",
            "senders": [
                {"name": "A" * 40, "status": "active"},
                {"name": "A" * 33, "status": "active"},
                {"name": "MyBrand", "status": "active"},
                {"name": "Promo", "status": "pending", "info": "x" * 5000},
            ],
        }
    )


def test_sender_names_longer_than_the_column_are_skipped_and_the_rest_lands(
    app, make_person
) -> None:
    ann = make_person("ann@example.com")
    with canned_server(gateway(senders=long_names)) as hostile:
        team = on(app, ann, hostile.base_url)
        for _ in range(2):  # the next sync works too
            page = ann.post("/senders/refresh", follow_redirects=True).text
            assert "2 names were skipped: they are longer than 32 characters." in page
            assert "Sender names refreshed: 2 listed" in page
    with app.app_context():
        names = db.session.scalars(
            sa.select(SenderName.name).where(SenderName.team_id == team.id)
        ).all()
    assert sorted(names) == ["MyBrand", "Promo"]
