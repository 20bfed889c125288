"""The campaign page and the campaigns list: the live summary (counters only, never a COUNT),
polling that slows down and stops with 286, keyset pages of the message table with filters,
search and sorting, the streamed CSV export, resending failed and unknown messages as a new draft
(its messages copied in SQL), and roles and isolation."""

from __future__ import annotations

import csv
import io
import re
import threading
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from html import unescape
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.helpers import hidden, team_of, without_team
from webapp import gateway_texts
from webapp.domain import drafts
from webapp.domain import messages as message_table
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    Campaign,
    CampaignState,
    Message,
    SenderName,
    StopListEntry,
    Team,
    utcnow,
)

HX = {"HX-Request": "true"}
START = utcnow().replace(microsecond=0) - timedelta(hours=1)


def make_campaign(
    app: Flask,
    team_id: int,
    states: list[str],
    *,
    state: str = CampaignState.SENDING,
    phones: list[str] | None = None,
    text: str = "Hello",
) -> int:
    """A campaign whose messages are in ``states`` (one per message, in id order), with counters
    that equal the real counts, as the worker keeps them."""
    phones = phones or [f"7916{i:07d}" for i in range(len(states))]
    with app.app_context():
        counts = Counter(states)
        sent = [s for s in states if s not in ("queued", "sending", "cancelled")]
        campaign = Campaign(
            team_id=team_id,
            name="Spring sale",
            state=state,
            text=text,
            sender="MyBrand",
            flash=True,
            price_per_part=Decimal("2.50"),
            recipients=len(states),
            started_at=START,
            parts=2 * len(sent),
            cost=Decimal("5.00") * len(sent),
            **{name: counts.get(name, 0) for name in message_table.SUMMARY_STATES},
        )
        db.session.add(campaign)
        db.session.flush()
        rows = []
        for i, (phone, message_state) in enumerate(zip(phones, states, strict=True)):
            was_sent = message_state not in ("queued", "sending", "cancelled")
            final = message_state in ("delivered", "failed", "expired")
            rows.append(
                {
                    "team_id": team_id,
                    "campaign_id": campaign.id,
                    "phone": phone,
                    "text": f"Hello {i}",
                    "state": message_state,
                    "gateway_status": message_state if was_sent else "",
                    "parts": 2 if was_sent else 0,
                    "cost": Decimal("5.00") if was_sent else None,
                    "sent_at": START + timedelta(seconds=i) if was_sent else None,
                    "final_at": START + timedelta(minutes=1, seconds=i) if final else None,
                }
            )
        db.session.execute(sa.insert(Message), rows)
        db.session.commit()
        return campaign.id


def set_campaign(app: Flask, campaign_id: int, **values) -> None:
    with app.app_context():
        db.session.execute(sa.update(Campaign).where(Campaign.id == campaign_id).values(**values))
        db.session.commit()


def move(app: Flask, campaign_id: int, phone: str, old: str, new: str) -> None:
    """Move one message and its counters together, as the status worker does."""
    with app.app_context():
        db.session.execute(
            sa.update(Message)
            .where(Message.campaign_id == campaign_id, Message.phone == phone)
            .values(state=new, final_at=utcnow())
        )
        db.session.execute(
            sa.update(Campaign)
            .where(Campaign.id == campaign_id)
            .values({old: getattr(Campaign, old) - 1, new: getattr(Campaign, new) + 1})
        )
        db.session.commit()


def message_ids(app: Flask, campaign_id: int) -> dict[int, tuple[str, str]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(Message.id, Message.phone, Message.state).where(
                Message.campaign_id == campaign_id
            )
        )
        return {row.id: (row.phone, row.state) for row in rows}


def text_of(html: str, name: str) -> str:
    match = re.search(rf'data-testid="{name}"[^>]*>(.*?)<', html, re.S)
    assert match, f"no {name}"
    return unescape(match.group(1)).strip()


def poll_url(html: str, region: str = "campaign-live") -> str | None:
    match = re.search(rf'<div id="{region}"[^>]*>', html)
    assert match, f"no #{region}"
    found = re.search(r'hx-get="([^"]+)"', match.group(0))
    return unescape(found.group(1)) if found else None


def poll_wait(html: str, region: str = "campaign-live") -> int | None:
    url = poll_url(html, region)
    return int(parse_qs(urlsplit(url).query)["wait"][0]) if url else None


def row_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-message-id="(\d+)"', html)]


def link(html: str, name: str) -> str | None:
    match = re.search(rf'<a href="([^"]+)"[^>]*data-testid="{name}"', html)
    return unescape(match.group(1)) if match else None


@pytest.fixture
def owner(make_person):
    return make_person("ann@example.com")


@pytest.fixture
def team_id(app, owner) -> int:
    return team_of(app, owner).id


MIXED = ["delivered"] * 6 + ["failed"] * 2 + ["expired"] * 2 + ["enroute"] * 3 + ["queued"]


# -- the summary ---------------------------------------------------------------------------------


def test_summary_shows_the_counters_progress_rate_and_cost(app, owner, team_id):
    campaign_id = make_campaign(app, team_id, [*MIXED, "unknown", "rejected"])
    html = owner.get(f"/campaigns/{campaign_id}").text
    expected = {
        "queued": "1",
        "sending": "0",
        "accepted": "0",
        "enroute": "3",
        "delivered": "6",
        "failed": "2",
        "rejected": "1",
        "unknown": "1",
        "expired": "2",
    }
    for state, count in expected.items():
        assert text_of(html, f"count-{state}") == count, state
    assert "On its way" in html
    assert text_of(html, "count-recipients") == "16"
    # 6 delivered of 8 whose delivery is known (6 + 2 failed; expired ones are not known
    # either way: see usage.delivery_rate)
    assert text_of(html, "delivery-rate") == "75.0%"
    assert text_of(html, "progress-text") == "12 of 16 settled (75%)"
    assert re.search(r'<progress max="16" value="12"', html)
    assert text_of(html, "cost") == "RUB\N{NO-BREAK SPACE}75.00"  # 15 sent × 5.00


def test_summary_reads_the_counters_and_never_counts_the_messages(app, owner, team_id):
    campaign_id = make_campaign(app, team_id, MIXED)
    # The counters say otherwise than the rows: the page must show the counters.
    set_campaign(app, campaign_id, delivered=600_000, failed=200_000, expired=200_000)
    statements: list[str] = []
    with app.app_context():
        engine = db.engine
    listener = lambda *args: statements.append(args[2].lower())  # noqa: E731
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        html = owner.get(f"/campaigns/{campaign_id}", headers=HX).text
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    assert text_of(html, "count-delivered") == "600,000"
    assert text_of(html, "delivery-rate") == "75.0%"
    assert statements and not [s for s in statements if "count(" in s]


def test_no_delivery_rate_before_any_delivery_is_known(app, owner, team_id):
    campaign_id = make_campaign(app, team_id, ["queued", "enroute"])
    assert text_of(owner.get(f"/campaigns/{campaign_id}").text, "delivery-rate") == "—"


# -- polling -------------------------------------------------------------------------------------


def test_the_fragment_polls_while_live_and_answers_286_when_final(app, owner, team_id):
    campaign_id = make_campaign(app, team_id, ["delivered", "enroute"], state="finished")
    page = owner.get(f"/campaigns/{campaign_id}")
    assert page.status_code == 200 and "<html" in page.text
    assert 'hx-trigger="every 2s, live-resume from:body"' in page.text

    # Finished, but one message is still on its way: its status can still change.
    fragment = owner.get(f"/campaigns/{campaign_id}", headers=HX)
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and poll_url(fragment.text)
    assert "HX-Request" in fragment.headers["Vary"]

    move(app, campaign_id, "79160000001", "enroute", "failed")
    final = owner.get(poll_url(fragment.text), headers=HX)
    assert final.status_code == 286
    assert poll_url(final.text) is None and 'hx-trigger="every' not in final.text
    assert text_of(final.text, "count-failed") == "1"

    # A full page of a final campaign is a normal page that does not poll.
    page = owner.get(f"/campaigns/{campaign_id}")
    assert page.status_code == 200 and poll_url(page.text) is None


@pytest.mark.parametrize("state", ["sending", "paused", "scheduled"])
def test_a_campaign_that_can_still_move_keeps_polling(app, owner, team_id, state):
    campaign_id = make_campaign(app, team_id, ["queued"], state=state)
    assert owner.get(f"/campaigns/{campaign_id}", headers=HX).status_code == 200


def test_a_cancelled_campaign_with_nothing_moving_is_final(app, owner, team_id):
    campaign_id = make_campaign(app, team_id, ["delivered", "cancelled"], state="cancelled")
    assert owner.get(f"/campaigns/{campaign_id}", headers=HX).status_code == 286


def test_polling_slows_down_while_nothing_changes_and_speeds_up_on_a_change(app, owner, team_id):
    campaign_id = make_campaign(app, team_id, ["enroute", "enroute"])
    html = owner.get(f"/campaigns/{campaign_id}").text
    waits = [poll_wait(html)]
    for _ in range(5):
        html = owner.get(poll_url(html), headers=HX).text
        waits.append(poll_wait(html))
    assert waits == [2, 4, 8, 10, 10, 10]
    assert 'hx-trigger="every 10s' in html

    move(app, campaign_id, "79160000000", "enroute", "delivered")
    html = owner.get(poll_url(html), headers=HX).text
    assert poll_wait(html) == 2
    assert text_of(html, "count-delivered") == "1"
    html = owner.get(poll_url(html), headers=HX).text
    assert poll_wait(html) == 4


def test_the_poll_keeps_the_filters_and_the_page(app, owner, team_id):
    campaign_id = make_campaign(app, team_id, ["enroute"] * 60 + ["delivered"] * 60)
    html = owner.get(f"/campaigns/{campaign_id}?state=enroute&q=7916").text
    after = link(html, "next")
    html = owner.get(after, headers=HX).text
    query = parse_qs(urlsplit(poll_url(html)).query)
    assert query["state"] == ["enroute"] and query["q"] == ["7916"]
    assert query["after"] == parse_qs(urlsplit(after).query)["after"]
    assert row_ids(owner.get(poll_url(html), headers=HX).text) == row_ids(html)


def test_a_draft_does_not_poll(app, owner, team_id):
    with app.app_context():
        campaign = Campaign(team_id=team_id, name="Draft", text="hi")
        db.session.add(campaign)
        db.session.commit()
        campaign_id = campaign.id
    assert poll_url(owner.get(f"/campaigns/{campaign_id}").text) is None
    assert owner.get(f"/campaigns/{campaign_id}", headers=HX).status_code == 286


# -- the message table: keyset pages -------------------------------------------------------------


def walk(person, first_url: str, forward: bool = True) -> tuple[list[int], str]:
    """Follow Next (or Previous) links from ``first_url``; every row id seen, and the last
    page's URL."""
    seen: list[int] = []
    url = first_url
    pages = 0
    while True:
        html = person.get(url).text
        ids = row_ids(html)
        assert len(ids) <= message_table.PAGE_SIZE
        seen.extend(ids if forward else reversed(ids))
        following = link(html, "next" if forward else "prev")
        pages += 1
        assert pages < 50
        if following is None:
            return seen, url
        url = following


def expected_ids(rows, sort, state="", prefix=""):
    chosen = [
        (i, phone)
        for i, (phone, s) in rows.items()
        if (not state or s == state) and phone.startswith(prefix)
    ]
    if sort == "phone":
        return [i for i, _ in sorted(chosen, key=lambda r: (r[1], r[0]))]
    return sorted((i for i, _ in chosen), reverse=sort == "newest")


@pytest.mark.parametrize("sort", ["newest", "oldest", "phone"])
@pytest.mark.parametrize(
    ("state", "q", "prefix"),
    [("", "", ""), ("delivered", "", ""), ("", "+7 (926)", "7926"), ("failed", "89", "79")],
)
def test_keyset_pages_show_every_row_once_in_order(app, owner, team_id, sort, state, q, prefix):
    # 173 messages whose phones are not in id order, some shared prefixes.
    states = (["delivered", "failed", "enroute", "delivered"] * 44)[:173]
    phones = [f"79{(16, 26, 36)[i % 3]}{(i * 7919) % 10_000_000:07d}" for i in range(173)]
    campaign_id = make_campaign(app, team_id, states, phones=phones)
    rows = message_ids(app, campaign_id)
    want = expected_ids(rows, sort, state, prefix)
    assert len(want) > message_table.PAGE_SIZE or state == "failed"

    args = {"sort": sort, "state": state, "q": q}
    query = "&".join(f"{k}={v}" for k, v in args.items() if v)
    seen, last = walk(owner, f"/campaigns/{campaign_id}?{query}")
    assert seen == want

    # Backwards from the last page, by Previous links, the same rows in reverse.
    back, _ = walk(owner, last, forward=False)
    assert list(reversed(back)) == want


def test_pages_keep_filters_in_their_links_and_return_full_pages(app, owner, team_id):
    campaign_id = make_campaign(app, team_id, ["delivered"] * 120)
    html = owner.get(f"/campaigns/{campaign_id}?state=delivered&sort=phone&q=7916").text
    following = link(html, "next")
    query = parse_qs(urlsplit(following).query)
    assert query["state"] == ["delivered"] and query["sort"] == ["phone"]
    assert query["q"] == ["7916"] and "after" in query
    assert link(html, "prev") is None
    assert "<html" in owner.get(following).text  # a pushed URL is a full page
    fragment = owner.get(following, headers=HX).text
    assert "<html" not in fragment and link(fragment, "prev")


def test_the_table_shows_times_in_the_team_zone(app, owner, team_id):
    campaign_id = make_campaign(app, team_id, ["delivered"])
    html = owner.get(f"/campaigns/{campaign_id}").text
    local = START + timedelta(hours=3)  # Europe/Moscow
    assert f"{local.day} {local:%b %Y, %H:%M:%S}" in html
    assert "+79160000000" in html


def test_an_unknown_state_or_sort_is_ignored_and_no_match_is_said(app, owner, team_id):
    campaign_id = make_campaign(app, team_id, ["delivered"] * 3)
    html = owner.get(f"/campaigns/{campaign_id}?state=nonsense&sort=drop").text
    assert len(row_ids(html)) == 3
    html = owner.get(f"/campaigns/{campaign_id}?q=555").text
    assert row_ids(html) == [] and text_of(html, "no-messages") == "No messages match."


# -- export --------------------------------------------------------------------------------------


def read_csv(response) -> list[list[str]]:
    data = response.get_data()
    assert data.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_export_streams_the_filtered_table_as_csv(app, owner, team_id):
    campaign_id = make_campaign(app, team_id, MIXED)
    response = owner.get(f"/campaigns/{campaign_id}/messages.csv?state=delivered&q=79160000")
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="campaign-{campaign_id}-messages-delivered.csv"'
    )
    rows = read_csv(response)
    assert rows[0] == [
        "Phone",
        "State",
        "Gateway status",
        "Parts",
        "Cost, RUB",
        "Sent (Moscow, UTC+3)",
        "En route (Moscow, UTC+3)",
        "Final status (Moscow, UTC+3)",
    ]
    # In the table's order (newest first by default).
    assert [r[0] for r in rows[1:]] == [f"7916000000{i}" for i in reversed(range(6))]
    # Times in the team's zone, as Excel reads a date and time in any language.
    local = START.astimezone(ZoneInfo("Europe/Moscow")).strftime("%Y-%m-%d %H:%M:%S")
    rows = read_csv(owner.get(f"/campaigns/{campaign_id}/messages.csv?state=delivered&sort=oldest"))
    assert rows[1][0] == "79160000000"
    status = "delivered to the phone (delivered)"
    assert rows[1][1:] == ["delivered", status, "2", "5.00", local, "", rows[1][7]]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", rows[1][7])

    everything = read_csv(owner.get(f"/campaigns/{campaign_id}/messages.csv"))
    assert len(everything) == 1 + len(MIXED)


def test_export_for_people_is_in_their_words_and_for_programs_in_machine_values(
    app, owner, team_id
):
    """Excel's formats say the state, the gateway status and the zone as pages do, in the
    reader's language (translated as the streamed rows are read); plain CSV keeps the raw."""
    campaign_id = make_campaign(app, team_id, ["failed"])
    with app.app_context():
        db.session.execute(sa.update(Message).values(gateway_status="delivery error"))
        db.session.commit()
    url = f"/campaigns/{campaign_id}/messages.csv"
    russian = owner.get(url + "?format=excel-ru", headers={"Accept-Language": "ru"})
    assert russian.is_streamed
    rows = [line.split(";") for line in russian.get_data().decode("utf-8-sig").splitlines()]
    assert rows[0][:3] == ["Телефон", "Состояние", "Статус от шлюза"]
    assert rows[0][5] == "Отправлено (Москва, UTC+3)"
    with app.test_request_context(headers={"Accept-Language": "ru"}):
        status = str(gateway_texts.status_text("delivery error"))  # «… (delivery error)»
    assert status.endswith(" (delivery error)")
    assert rows[1][1:3] == ["не доставлено", status]
    plain = owner.get(url + "?format=plain", headers={"Accept-Language": "ru"}).get_data()
    plain_rows = list(csv.reader(io.StringIO(plain.decode())))
    assert plain_rows[0][5] == "Отправлено (Europe/Moscow)"
    assert plain_rows[1][1:3] == ["failed", "delivery error"]


def test_export_reads_in_keyset_chunks(app, team_id):
    campaign_id = make_campaign(app, team_id, ["delivered", "failed"] * 20)
    with app.app_context():
        filters = message_table.Filters(sort="phone")
        rows = list(message_table.export_rows(db.session, team_id, campaign_id, filters, chunk=7))
        assert [r[0] for r in rows] == sorted(f"7916{i:07d}" for i in range(40))
        failed = message_table.Filters(state="failed")
        rows = list(message_table.export_rows(db.session, team_id, campaign_id, failed, chunk=3))
        assert len(rows) == 20 and {r[1] for r in rows} == {"failed"}
        # Scoped by team: another team's id reads nothing.
        assert list(message_table.export_rows(db.session, team_id + 1, campaign_id, filters)) == []


def test_export_neutralises_formulas_from_the_gateway(app, owner, team_id):
    campaign_id = make_campaign(app, team_id, ["failed"])
    with app.app_context():
        db.session.execute(sa.update(Message).values(gateway_status="=HYPERLINK(1)"))
        db.session.commit()
    rows = read_csv(owner.get(f"/campaigns/{campaign_id}/messages.csv"))
    assert rows[1][2] == "'=HYPERLINK(1)"


# -- resend --------------------------------------------------------------------------------------


def active_sender(app: Flask, team_id: int, name: str = "MyBrand") -> None:
    with app.app_context():
        db.session.add(SenderName(team_id=team_id, name=name, status="active"))
        db.session.commit()


def confirm_and_send(client, draft_id: int):
    html = client.get(f"/campaigns/{draft_id}/confirm").text
    data = {"version": hidden(html, "version"), "recipients": hidden(html, "recipients")}
    return html, client.post(f"/campaigns/{draft_id}/send", data=data)


def messages_of(app: Flask, campaign_id: int) -> list[tuple[str, str, str, int]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(Message.phone, Message.text, Message.state, Message.parts)
            .where(Message.campaign_id == campaign_id)
            .order_by(Message.id)
        )
        return [tuple(row) for row in rows]


def test_resend_failed_and_unknown_makes_a_new_draft_and_opens_its_confirmation(
    app, owner, team_id
):
    states = ["delivered", "failed", "unknown", "rejected", "failed", "expired"]
    campaign_id = make_campaign(app, team_id, states, state="finished", text="Sale!")
    html = owner.get(f"/campaigns/{campaign_id}").text
    assert "Resend failed and unknown (3)" in html
    response = owner.post(f"/campaigns/{campaign_id}/resend")
    assert response.status_code == 302
    new_id = int(
        re.fullmatch(r"/campaigns/(\d+)/confirm", without_team(response.location)).group(1)
    )
    assert new_id != campaign_id
    with app.app_context():
        draft = db.session.get(Campaign, new_id)
        assert draft.state == "draft" and draft.team_id == team_id
        assert (draft.text, draft.sender, draft.flash) == ("Sale!", "MyBrand", True)
        assert draft.name == "Resend of Spring sale"
        # The source, not a copy of its numbers: any number of them, with their own texts.
        assert draft.resend_of == campaign_id
        assert (draft.list_ids, draft.pasted_numbers) == ([], "")
        # Nothing is sent, nor even queued, until its confirmation is confirmed.
        count = sa.select(sa.func.count()).where(Message.campaign_id == new_id)
        assert db.session.scalar(count) == 0
        assert db.session.get(Campaign, campaign_id).state == "finished"

    active_sender(app, team_id)
    page = owner.get(response.location).text
    statement = " ".join(unescape(re.sub(r"<[^>]+>", " ", page)).split())
    assert "This resends 3 failed or unknown messages of the campaign Spring sale" in statement
    assert text_of(page, "confirm-recipients") == "3"
    assert "Hello 1" in page  # the sample is the first resent message's own text
    # A resend is not edited: its composer sends back to the confirmation, with a note.
    edit = owner.get(f"/campaigns/{new_id}/edit")
    assert edit.status_code == 302 and without_team(edit.location) == f"/campaigns/{new_id}/confirm"
    preview = owner.post(f"/campaigns/{new_id}/preview", data={"pasted_numbers": "+79990000000"})
    assert "no longer a draft" in preview.text
    with app.app_context():
        assert db.session.get(Campaign, new_id).pasted_numbers == ""

    _, sent = confirm_and_send(owner, new_id)
    assert sent.status_code == 302 and without_team(sent.location) == f"/campaigns/{new_id}"
    assert sorted(messages_of(app, new_id)) == [
        ("79160000001", "Hello 1", "queued", 2),
        ("79160000002", "Hello 2", "queued", 2),
        ("79160000004", "Hello 4", "queued", 2),
    ]
    with app.app_context():
        sent_campaign = db.session.get(Campaign, new_id)
        assert (sent_campaign.state, sent_campaign.queued, sent_campaign.recipients) == (
            "scheduled",
            3,
            3,
        )


def test_resend_of_20000_failed_and_unknown_messages_copies_them_in_sql(app, owner, team_id):
    """Far beyond what pasted numbers could carry: every failed and unknown message is queued
    again with its own rendered text, each phone once, without the stop list; delivered and
    accepted ones stay out."""
    with app.app_context():
        source = Campaign(
            team_id=team_id,
            name="Big one",
            state=CampaignState.FINISHED,
            text="Hi {name}, {code}",
            sender="MyBrand",
            price_per_part=Decimal("2.50"),
            started_at=START,
        )
        db.session.add(source)
        db.session.flush()
        source_id = source.id
        rows = []
        states = ["failed", "unknown", "delivered", "accepted"]
        for i in range(24_000):
            state = states[i % 4] if i < 8_000 else ("failed" if i % 2 else "unknown")
            rows.append(
                {
                    "team_id": team_id,
                    "campaign_id": source_id,
                    "phone": f"79{i:09d}",
                    "text": f"Hi Имя{i}, {i:05d}",
                    "state": state,
                    "gateway_status": state,
                    "parts": 1,
                }
            )
        # The same phone twice, failed then unknown: resent once, with its first text.
        rows.append({**rows[0], "text": "Hi again", "state": "unknown"})
        counts = Counter(row["state"] for row in rows)
        db.session.execute(sa.insert(Message), rows)
        db.session.execute(
            sa.update(Campaign)
            .where(Campaign.id == source_id)
            .values(recipients=len(rows), **counts)
        )
        stopped = ["79000000000", "79000010001", "79000010002"]  # two resendable, one not...
        stopped.append("79000000002")  # ...and a delivered one
        db.session.add_all(StopListEntry(team_id=team_id, phone=p) for p in stopped)
        db.session.commit()
    expected = {
        row["phone"]: row["text"]
        for row in reversed(rows)  # the lowest id of each phone wins
        if row["state"] in ("failed", "unknown") and row["phone"] not in stopped
    }
    assert len(expected) == 20_000 - 3

    active_sender(app, team_id)
    response = owner.post(f"/campaigns/{source_id}/resend")
    draft_id = int(
        re.fullmatch(r"/campaigns/(\d+)/confirm", without_team(response.location)).group(1)
    )
    page, sent = confirm_and_send(owner, draft_id)
    assert text_of(page, "confirm-recipients").startswith("19,997")
    assert "3 on the stop list left out" in page
    assert sent.status_code == 302 and without_team(sent.location) == f"/campaigns/{draft_id}"
    made = messages_of(app, draft_id)
    assert len(made) == 19_997
    assert {phone: text for phone, text, _, _ in made} == expected
    assert {(state, parts) for _, _, state, parts in made} == {("queued", 1)}
    assert "{" not in "".join(text for _, text, _, _ in made)
    with app.app_context():
        draft = db.session.get(Campaign, draft_id)
        assert (draft.state, draft.queued, draft.recipients) == ("scheduled", 19_997, 19_997)
        assert db.session.get(Campaign, source_id).failed == counts["failed"]  # untouched


def test_a_resend_cannot_name_another_teams_campaign(app, owner, make_person, team_id):
    theirs_person = make_person("eve@example.com")
    theirs = make_campaign(app, team_of(app, theirs_person).id, ["failed"] * 3, state="finished")
    assert owner.post(f"/campaigns/{theirs}/resend").status_code == 404
    # Nor can a resend draft pointed at it (by any other way) see or copy its messages.
    ours = make_campaign(app, team_id, ["failed"], state="finished")
    active_sender(app, team_id)
    response = owner.post(f"/campaigns/{ours}/resend")
    draft_id = int(
        re.fullmatch(r"/campaigns/(\d+)/confirm", without_team(response.location)).group(1)
    )
    set_campaign(app, draft_id, resend_of=theirs)
    page = owner.get(f"/campaigns/{draft_id}/confirm").text
    assert "no failed or unknown messages left to resend" in page
    with app.app_context():
        version = str(db.session.get(Campaign, draft_id).revision)
    sent = owner.post(f"/campaigns/{draft_id}/send", data={"version": version, "recipients": "3"})
    assert f"/campaigns/{theirs}" not in page and "Hello 0" not in page
    assert sent.status_code == 302
    assert without_team(sent.location) == f"/campaigns/{draft_id}/confirm"
    assert messages_of(app, draft_id) == []
    with app.app_context():
        assert db.session.get(Campaign, draft_id).state == "draft"


def resend_drafts(app: Flask, source_id: int) -> list[tuple[int, str]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(Campaign.id, Campaign.state)
            .where(Campaign.resend_of == source_id)
            .order_by(Campaign.id)
        )
        return [tuple(row) for row in rows]


def test_resend_pressed_again_opens_the_draft_not_yet_sent(app, owner, team_id):
    source_id = make_campaign(app, team_id, ["failed", "unknown"], state="finished")
    first = owner.post(f"/campaigns/{source_id}/resend")
    again = owner.post(f"/campaigns/{source_id}/resend")  # a double click, or back and again
    assert first.status_code == again.status_code == 302
    assert again.location == first.location
    [(draft_id, _)] = resend_drafts(app, source_id)
    assert without_team(first.location) == f"/campaigns/{draft_id}/confirm"
    assert "already waiting for your confirmation" in owner.get(again.location).text
    with app.app_context():
        drafted = sa.select(sa.func.count()).where(AuditEvent.action == "campaign_resend_drafted")
        assert db.session.scalar(drafted) == 1

    # Once that draft is deleted (a draft is deleted, not cancelled: it sent nothing), the
    # campaign offers its resend again, as a new draft.
    assert owner.post(f"/campaigns/{draft_id}/cancel").status_code == 302  # refused: a draft
    assert resend_drafts(app, source_id) == [(draft_id, "draft")]
    owner.post(f"/campaigns/{draft_id}/delete")
    assert resend_drafts(app, source_id) == []
    third = owner.post(f"/campaigns/{source_id}/resend")
    [(new_id, new_state)] = resend_drafts(app, source_id)
    assert new_state == "draft"  # (SQLite may give it the deleted one's id again)
    assert without_team(third.location) == f"/campaigns/{new_id}/confirm"
    with app.app_context():
        actions = db.session.scalars(
            sa.select(AuditEvent.action)
            .where(AuditEvent.action.in_(["campaign_resend_drafted", "campaign_draft_deleted"]))
            .order_by(AuditEvent.id)
        ).all()
        drafted, deleted = "campaign_resend_drafted", "campaign_draft_deleted"
        assert actions == [drafted, deleted, drafted]


def test_two_resends_at_once_make_one_draft(app, team_id):
    """The second of two simultaneous requests waits for the first's transaction, then finds
    its draft. The first holds its transaction open here until the second has had time to
    start; without the lock the second would add a draft of its own meanwhile."""
    source_id = make_campaign(app, team_id, ["failed", "unknown"], state="finished")
    holding, may_commit = threading.Event(), threading.Event()
    results: dict[str, tuple[int, bool]] = {}

    def resend(key: str, hold: bool) -> None:
        with app.app_context():
            team = db.session.get(Team, team_id)
            source = db.session.get(Campaign, source_id)
            draft, created = drafts.resend_draft(db.session, team, source, None, "Resend")
            if hold:
                holding.set()
                may_commit.wait(10)
            db.session.commit()
            results[key] = (draft.id, created)

    first = threading.Thread(target=resend, args=("first", True))
    first.start()
    assert holding.wait(10)
    second = threading.Thread(target=resend, args=("second", False))
    second.start()
    second.join(0.5)  # time to reach the lock (and, without one, to add a draft)
    may_commit.set()
    first.join(10)
    second.join(10)
    assert results["first"][1] is True
    assert results["second"] == (results["first"][0], False)
    assert resend_drafts(app, source_id) == [(results["first"][0], "draft")]


def test_resend_with_nothing_to_resend_makes_nothing(app, owner, team_id):
    campaign_id = make_campaign(app, team_id, ["delivered"], state="finished")
    assert "Resend failed" not in owner.get(f"/campaigns/{campaign_id}").text
    response = owner.post(f"/campaigns/{campaign_id}/resend")
    assert response.status_code == 302
    assert without_team(response.location) == f"/campaigns/{campaign_id}"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 1


# -- the campaigns list --------------------------------------------------------------------------


def test_the_list_shows_progress_and_polls_while_any_campaign_is_active(app, owner, team_id):
    done = make_campaign(app, team_id, ["delivered", "failed"], state="finished")
    active = make_campaign(app, team_id, ["delivered", "enroute", "queued"])
    html = owner.get("/campaigns").text
    assert poll_wait(html, "campaigns-live") == 2
    rows = re.findall(r'<tr data-campaign-id="(\d+)">(.*?)</tr>', html, re.S)
    assert [int(i) for i, _ in rows] == [active, done]
    assert re.search(r'<progress max="3" value="1"', rows[0][1])
    assert text_of(rows[1][1], "campaign-rate") == "50.0%"
    assert text_of(rows[0][1], "campaign-rate") == "100.0%"

    fragment = owner.get(poll_url(html, "campaigns-live"), headers=HX)
    assert fragment.status_code == 200 and poll_wait(fragment.text, "campaigns-live") == 4

    move(app, active, "79160000001", "enroute", "delivered")
    set_campaign(app, active, state="finished", queued=0, cancelled=1)
    final = owner.get(poll_url(fragment.text, "campaigns-live"), headers=HX)
    assert final.status_code == 286 and poll_url(final.text, "campaigns-live") is None


# -- roles and isolation -------------------------------------------------------------------------


def test_a_viewer_sees_and_exports_but_cannot_resend(app, make_person, team_id):
    campaign_id = make_campaign(app, team_id, ["failed", "delivered"], state="finished")
    viewer = make_person("vic@example.com", team=team_id, role="viewer")
    html = viewer.get(f"/campaigns/{campaign_id}").text
    assert text_of(html, "count-failed") == "1" and "Resend failed" not in html
    assert viewer.get(f"/campaigns/{campaign_id}/messages.csv").status_code == 200
    assert viewer.post(f"/campaigns/{campaign_id}/resend").status_code == 403


def test_another_team_gets_404_everywhere(app, make_person, team_id):
    campaign_id = make_campaign(app, team_id, ["failed", "delivered"], state="finished")
    stranger = make_person("eve@example.com")
    for path in (f"/campaigns/{campaign_id}", f"/campaigns/{campaign_id}/messages.csv"):
        assert stranger.get(path).status_code == 404
        assert stranger.get(path, headers=HX).status_code == 404
    assert stranger.post(f"/campaigns/{campaign_id}/resend").status_code == 404
    assert "Spring sale" not in stranger.get("/campaigns").text


def test_the_table_is_scoped_by_team_even_for_a_known_message_id(app, make_person, team_id):
    ours = make_campaign(app, team_id, ["delivered"] * 3)
    stranger = make_person("eve@example.com")
    theirs = make_campaign(app, team_of(app, stranger).id, ["delivered"] * 3)
    foreign_id = max(message_ids(app, ours))
    html = stranger.get(f"/campaigns/{theirs}?after={foreign_id + 100}&sort=phone").text
    assert set(row_ids(html)) <= set(message_ids(app, theirs))


def test_every_form_without_its_csrf_token_is_refused_and_changes_nothing(app, owner, team_id):
    """The app-wide CSRF protection guards every campaign form (the views check no token)."""
    sending = make_campaign(app, team_id, ["failed", "enroute"], state="sending")
    paths = [
        "/campaigns/new",
        "/senders/refresh",
        *(
            f"/campaigns/{sending}/{action}"
            for action in ("edit", "preview", "send", "reopen", "cancel", "pause", "resume")
        ),
        f"/campaigns/{sending}/resend",
    ]
    for path in paths:
        response = owner.client.post(path, data={"action": "save", "name": "Changed"})
        assert response.status_code == 400, path
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 1
        row = db.session.get(Campaign, sending)
        assert (row.state, row.name) == ("sending", "Spring sale")
        assert (
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action.like("campaign_%"))
            )
            == 0
        )
