"""Time zones: webapp.timezones is the one home of a team's zone (UTC when its name is not
known here), local dates and times to UTC and back, the text a page shows, and the zones the
settings form offers; every page reads a team's times through it."""

from __future__ import annotations

import sys
import warnings
from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import update

from tests.helpers import add_list, new_draft, preview, team_of, text_of
from webapp.extensions import db
from webapp.forms.teams import SendingSettingsForm
from webapp.models import ContactList, StopListEntry, Team
from webapp.timezones import choices, in_team_zone, local_to_utc, shown, team_zone


def test_local_times_go_to_utc_and_back_on_both_sides_of_a_clock_change():
    team = Team(timezone="Europe/Berlin")
    winter = local_to_utc(date(2026, 1, 15), time(9, 30), team)
    summer = local_to_utc(date(2026, 7, 15), time(9, 30), team)
    assert winter == datetime(2026, 1, 15, 8, 30, tzinfo=UTC)  # UTC+1
    assert summer == datetime(2026, 7, 15, 7, 30, tzinfo=UTC)  # UTC+2
    assert in_team_zone(summer, team).replace(tzinfo=None) == datetime(2026, 7, 15, 9, 30)
    assert in_team_zone(None, team) is None


def test_what_a_page_shows_is_the_team_local_time():
    team = Team(timezone="Asia/Vladivostok")  # UTC+10
    when = datetime(2026, 3, 1, 23, 30, 5, tzinfo=UTC)
    assert shown(when, team) == "2026-03-02 09:30"
    assert shown(when, team, seconds=True) == "2026-03-02 09:30:05"
    assert shown(when, team, day=True) == "2026-03-02"
    assert shown(None, team) == ""


@pytest.mark.parametrize("stored", ["", "Mars/Olympus", "../etc/passwd"])
def test_a_zone_not_known_here_is_read_as_utc(stored):
    team = Team(timezone=stored)
    assert team_zone(team).key == "UTC"
    assert local_to_utc(date(2026, 1, 15), time(9, 30), team).hour == 9


class LegacyFinder:
    """An import hook of the old kind (like six's), which Python warns about whenever an import
    falls through to it; the full suite has one installed by a plugin."""

    def find_module(self, name, path=None):
        return None


@pytest.mark.parametrize(
    ("stored", "read"), [("Mars/Olympus", "UTC"), ("Europe/Moscow", "Europe/Moscow"), ("", "UTC")]
)
def test_an_unknown_zone_is_read_as_utc_without_an_import_under_a_legacy_hook(
    stored, read, monkeypatch: pytest.MonkeyPatch
):
    # An unknown name once sent zoneinfo looking for the tzdata package: an import that such a
    # hook turns into an ImportWarning (an error in this suite), so the page failed.
    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, LegacyFinder()])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        zone = team_zone(Team(timezone=stored))
    assert zone.key == read


def test_the_settings_form_offers_every_zone_by_name(app):
    zones = choices()
    assert zones == sorted(zones) and "Europe/Moscow" in zones and "UTC" in zones
    with app.test_request_context():
        assert [c[0] for c in SendingSettingsForm().timezone.iter_choices()] == zones


def set_zone(app, team_id: int, zone: str) -> None:
    with app.app_context():
        db.session.execute(update(Team).where(Team.id == team_id).values(timezone=zone))
        db.session.commit()


def contact_pages(app, person, team_id: int) -> dict[str, str]:
    """The contact pages that show when something was made, made at 2026-03-01 23:30 UTC."""
    list_id = add_list(app, team_id, "People", [("79161111111", {"name": "Anna"})])
    made = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    with app.app_context():
        db.session.add(StopListEntry(team_id=team_id, phone="79162222222", created_at=made))
        db.session.execute(update(ContactList).values(created_at=made))
        db.session.commit()
    assert person.get(f"/contacts/lists/{list_id}").status_code == 200
    pages = {}
    for path in ("/contacts", "/contacts/stop-list"):
        response = person.get(path)
        assert response.status_code == 200, path
        pages[path] = response.text
    return pages


def test_contact_pages_show_dates_in_the_team_zone(app, make_person):
    person = make_person("ann@example.com")
    team = team_of(app, person)
    set_zone(app, team.id, "Asia/Vladivostok")
    for page in contact_pages(app, person, team.id).values():
        assert "2026-03-02" in page and "2026-03-01" not in page


def test_contact_pages_read_a_zone_not_known_here_as_utc_like_every_other_page(app, make_person):
    """They made their own ZoneInfo of the stored name, without the fallback to UTC that every
    other page has: a zone this machine does not know (an older tzdata) failed them with 500."""
    person = make_person("ann@example.com")
    team = team_of(app, person)
    set_zone(app, team.id, "Mars/Olympus")
    for page in contact_pages(app, person, team.id).values():
        assert "2026-03-01" in page
    assert person.get("/campaigns").status_code == 200


def test_the_composer_names_the_zone_it_reads_times_in(app, make_person, sandbox):
    """The composer read a time in UTC for a zone not known here, but said it was in the
    stored zone's name."""
    app.config["SANDBOX_URL"] = sandbox.base_url
    person = make_person("ann@example.com")
    team = team_of(app, person)
    set_zone(app, team.id, "Mars/Olympus")
    campaign_id = new_draft(person)
    html = preview(person, campaign_id, when="at", send_date="2020-01-01", send_time="09:30")
    message = text_of(html, "error-when")
    assert "That time has already passed" in message
    assert "in UTC)" in message and "Mars/Olympus" not in message
    page = person.get(f"/campaigns/{campaign_id}/edit").text
    assert "In the team's time zone, UTC (now" in page and "Mars/Olympus" not in page
