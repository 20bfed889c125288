"""The campaigns list: keyset pages past the newest 50, search by name, filters by the state
shown, sender and period (the team's days) in a URL that can be shared, no test sends, drafts
deleted from it, polling that keeps the page and filters; and one label for a campaign sent but
not yet reported, on every page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from html import unescape
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.helpers import HX, team_of, without_team
from webapp.domain import campaign_list
from webapp.extensions import db
from webapp.models import Campaign, Team, utcnow


@pytest.fixture
def ann(make_person):
    return make_person("ann@example.com")


@pytest.fixture
def team_id(app, ann) -> int:
    return team_of(app, ann).id


def add_campaigns(app, team_id: int, rows: list[dict]) -> list[int]:
    """Campaigns written in bulk (``name``, ``state`` and any column), their ids in order."""
    with app.app_context():
        now = utcnow()
        db.session.execute(
            sa.insert(Campaign),
            [
                {
                    "team_id": team_id,
                    "name": f"Campaign {i}",
                    "state": "finished",
                    "sender": "MyBrand",
                    "price_per_part": Decimal("2.50"),
                    "created_at": now,
                    "updated_at": now,
                    **row,
                }
                for i, row in enumerate(rows)
            ],
        )
        db.session.commit()
        return list(
            db.session.scalars(
                sa.select(Campaign.id).where(Campaign.team_id == team_id).order_by(Campaign.id)
            )
        )[-len(rows) :]


def listed(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-campaign-id="(\d+)">', html)]


def link(html: str, testid: str) -> str | None:
    match = re.search(rf'<a href="([^"]+)"[^>]*data-testid="{testid}"', html)
    return unescape(match.group(1)) if match else None


def states_shown(html: str) -> list[str]:
    return re.findall(r'data-testid="campaign-state">([^<]*)<', html)


def test_pages_go_past_the_newest_and_show_every_campaign_once(app, ann, team_id):
    ids = add_campaigns(app, team_id, [{} for _ in range(120)])
    seen, url, pages = [], "/campaigns", 0
    while url:
        html = ann.get(url).text
        seen += listed(html)
        url, pages = link(html, "older"), pages + 1
    assert seen == sorted(ids, reverse=True) and pages == 3
    # Back from the last page: "Newer" shows the page before it, then the newest.
    last = ann.get(link(ann.get(f"/campaigns?after={ids[20]}").text, "older") or "/campaigns")
    newer = ann.get(link(ann.get(f"/campaigns?after={ids[70]}").text, "newer")).text
    assert listed(newer) == sorted(ids, reverse=True)[:50]
    assert link(newer, "newer") is None and last.status_code == 200


def test_search_state_sender_and_period_filter_in_a_url_that_can_be_shared(app, ann, team_id):
    zone = ZoneInfo("Europe/Moscow")
    with app.app_context():
        db.session.get(Team, team_id).timezone = "Europe/Moscow"
        db.session.commit()
    today = datetime.now(zone).replace(hour=12, minute=0, second=0, microsecond=0)
    long_ago = today - timedelta(days=40)
    ids = add_campaigns(
        app,
        team_id,
        [
            {"name": "Spring sale", "send_at": today},
            {"name": "Spring SALE reminder", "send_at": long_ago, "sender": "Promo"},
            {"name": "Autumn 50%_off", "send_at": today, "enroute": 3},  # awaiting reports
            {"name": "Draft idea", "state": "draft"},
            {"name": "Later", "state": "scheduled", "send_at": today + timedelta(days=3)},
        ],
    )
    spring, reminder, autumn, draft, later = ids

    def shown(query: str) -> list[int]:
        response = ann.get(f"/campaigns?{query}")
        assert response.status_code == 200, response.text
        return listed(response.text)

    assert shown("q=spring") == [reminder, spring]  # any case, anywhere in the name
    assert shown("q=50%25_") == [autumn]  # % and _ are the characters typed, not wildcards
    assert shown("q=%25") == [autumn]
    assert shown("state=awaiting_reports") == [autumn]
    assert shown("state=finished") == [reminder, spring]
    assert shown("state=draft") == [draft]
    assert shown("state=scheduled") == [later]
    assert shown("sender=Promo") == [reminder]
    assert shown("period=last-7-days") == [draft, autumn, spring]  # the draft: made today
    assert shown("period=this-month&q=spring") == [spring]
    first = (long_ago - timedelta(days=1)).date().isoformat()
    last = (long_ago + timedelta(days=1)).date().isoformat()
    assert shown(f"period=custom&from={first}&to={last}") == [reminder]
    assert shown("state=nonsense&sender=") == list(reversed(ids))  # ignored, not an error

    # The form shows the choice, so the shared URL opens the same list.
    html = ann.get("/campaigns?q=spring&state=finished&sender=Promo").text
    assert 'value="spring"' in html
    assert re.search(r'<option value="finished" selected>', html)
    assert re.search(r'<option value="Promo" selected>', html)
    assert "No campaigns match." not in html
    assert "No campaigns match." in ann.get("/campaigns?q=nothing-like-it").text


def test_typed_days_that_make_no_period_are_said_beside_the_field_and_kept(app, ann, team_id):
    add_campaigns(app, team_id, [{}])
    response = ann.get("/campaigns?period=custom&from=2026-02-30&to=")
    assert response.status_code == 400
    html = response.text
    assert "Enter a real date as YYYY-MM-DD" in html and "Enter the last day." in html
    assert 'value="2026-02-30"' in html
    assert len(listed(html)) == 1  # the list for any time meanwhile


def test_test_sends_are_not_listed(app, ann, team_id):
    (draft,) = add_campaigns(app, team_id, [{"name": "Real", "state": "draft"}])
    add_campaigns(app, team_id, [{"name": "Test of Real", "test_of": draft}])
    assert listed(ann.get("/campaigns").text) == [draft]
    assert listed(ann.get("/campaigns?state=finished").text) == []


def test_drafts_are_deleted_from_the_list_with_a_confirmation(app, ann, team_id):
    draft, sent = add_campaigns(app, team_id, [{"state": "draft"}, {}])
    html = ann.get("/campaigns").text
    rows = dict(re.findall(r'<tr data-campaign-id="(\d+)">(.*?)</tr>', html, re.S))
    assert f'action="/campaigns/{draft}/delete"' in without_team(rows[str(draft)])
    assert "hx-confirm=" in rows[str(draft)]
    assert "/delete" not in rows[str(sent)]
    ann.post(f"/campaigns/{draft}/delete")
    assert listed(ann.get("/campaigns").text) == [sent]


def test_the_poll_keeps_the_page_and_the_filters(app, ann, team_id):
    ids = add_campaigns(app, team_id, [{"state": "sending", "queued": 1} for _ in range(60)])
    html = ann.get(f"/campaigns?after={ids[-1]}&sender=MyBrand").text
    poll = re.search(r'<div id="campaigns-live"[^>]*hx-get="([^"]+)"', html)
    assert poll
    query = parse_qs(urlsplit(unescape(poll.group(1))).query)
    assert query["after"] == [str(ids[-1])] and query["sender"] == ["MyBrand"]
    fragment = ann.get(unescape(poll.group(1)), headers=HX)
    assert fragment.status_code == 200
    assert listed(fragment.text) == listed(html) == sorted(ids, reverse=True)[1:51]


def test_sent_but_not_reported_reads_the_same_on_every_page(app, ann, team_id):
    awaiting, done = add_campaigns(
        app,
        team_id,
        [
            {
                "name": "Awaiting",
                "recipients": 1200,
                "enroute": 1000,
                "delivered": 200,
                "finished_at": utcnow(),  # the home page shows it while its reports come
            },
            {"name": "Done", "recipients": 1, "delivered": 1},
        ],
    )
    assert states_shown(ann.get("/campaigns").text) == ["finished", "sent, awaiting reports"]
    page = ann.get(f"/campaigns/{awaiting}").text
    assert re.search(r'data-testid="state">sent, awaiting reports<', page)
    home = ann.get("/").text
    assert "sent, awaiting reports" in home and "finished" not in re.sub(r"<[^>]+>", "", home)
    # Numbers carry their thousands separators on the list.
    assert ">1,200<" in ann.get("/campaigns").text
    with app.app_context():
        now = utcnow()
        for shown in ("awaiting_reports", "finished"):
            found = db.session.scalars(
                sa.select(Campaign.id).where(
                    campaign_list.messages.shown_state_where(shown, now),
                    Campaign.team_id == team_id,
                )
            ).all()
            assert found == [awaiting if shown == "awaiting_reports" else done]
