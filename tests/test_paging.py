"""Keyset pages, one home: one row more than the page tells whether another page follows."""

from __future__ import annotations

import re

from sqlalchemy import select

from tests.helpers import stop, team_of
from webapp import paging
from webapp.extensions import db
from webapp.models import StopListEntry


def test_first_rows_and_the_next_key(app, make_person):
    team = team_of(app, make_person("olga@example.com"))
    stop(app, team.id, *(f"7916{i:07d}" for i in range(5)))
    with app.app_context():
        query = select(StopListEntry).order_by(StopListEntry.id)
        for size, shown, more in ((4, 4, True), (5, 5, False), (9, 5, False)):
            rows, follows = paging.first_rows(db.session, query, size)
            assert (len(rows), follows) == (shown, more), size
            assert paging.next_key(rows, follows) == (rows[-1].id if more else None)
        assert paging.next_key([], False) is None


def test_a_full_last_page_has_no_next_link(app, make_person):
    owner = make_person("olga@example.com")
    team = team_of(app, owner)
    stop(app, team.id, *(f"7916{i:07d}" for i in range(50)))
    page = owner.get("/contacts/stop-list").text
    assert page.count('class="phone"') == 50 and "Older" not in page

    stop(app, team.id, "79169999999")
    page = owner.get("/contacts/stop-list").text
    assert page.count('class="phone"') == 50
    older = re.search(r'href="([^"]+)">Older', page).group(1).replace("&amp;", "&")
    rest = owner.get(older).text
    assert rest.count('class="phone"') == 1 and "Older" not in rest
    assert "+79160000000" in rest  # newest first: the first added is last
