"""Time zones: webapp.timezones is the one home of a team's zone (UTC when its name is not
known here), local dates and times to UTC and back, and the zones the settings form offers by
offset and place in the page's language, beside the countries it offers by name; every page
reads a team's times through it (and writes them with webapp.formatting.team_time)."""

from __future__ import annotations

import re
import sys
import warnings
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from babel import Locale
from flask_babel import force_locale
from sqlalchemy import update

from tests.helpers import add_list, new_draft, preview, team_of, text_of
from webapp.extensions import db
from webapp.formatting import team_time
from webapp.forms.teams import FIRST_REGIONS, SendingSettingsForm
from webapp.models import ContactList, StopListEntry, Team
from webapp.timezones import choices, in_team_zone, local_to_utc, offered, team_zone

RU = {"Accept-Language": "ru"}
WINTER = datetime(2026, 1, 15, 12, tzinfo=UTC)
SUMMER = datetime(2026, 7, 15, 12, tzinfo=UTC)


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
    assert team_time(when, team) == "2 Mar 2026, 09:30"
    assert team_time(when, team, seconds=True) == "2 Mar 2026, 09:30:05"
    assert team_time(when, team, day=True) == "2 Mar 2026"
    assert team_time(None, team) == ""


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


def test_every_place_is_offered_once_under_its_current_name():
    zones = offered()
    assert "Europe/Moscow" in zones and "Asia/Almaty" in zones and "UTC" in zones
    assert "Europe/Kyiv" in zones and "Europe/Kiev" not in zones  # the old name, an alias
    assert "Asia/Kolkata" in zones and "Asia/Calcutta" not in zones
    assert not {"W-SU", "US/Eastern", "Etc/GMT-3", "EST5EDT"} & set(zones)
    assert 400 < len(zones) < 450


@pytest.mark.parametrize(
    ("language", "moscow", "utc"),
    [
        ("en", "(UTC+03:00) Moscow", "(UTC+00:00) Coordinated Universal Time"),
        ("ru", "(UTC+03:00) Москва", "(UTC+00:00) Всемирное координированное время"),
    ],
)
def test_zones_are_labelled_by_offset_and_place_and_sorted_by_offset(language, moscow, utc):
    rows = choices(Locale(language), WINTER)
    labels = {name: label for name, label, _search in rows}
    assert labels["Europe/Moscow"] == moscow and labels["UTC"] == utc
    assert labels["Asia/Kathmandu"].startswith("(UTC+05:45) ")
    assert labels["America/St_Johns"].startswith("(UTC-03:30) ")
    assert len(set(labels.values())) == len(rows)  # no two read alike
    offsets = [WINTER.astimezone(ZoneInfo(name)).utcoffset() for name, _l, _s in rows]
    assert offsets == sorted(offsets)
    assert rows[0][1].startswith("(UTC-1") and rows[-1][1].startswith("(UTC+14:00) ")


def test_a_zone_is_labelled_by_its_offset_at_the_time():
    winter = dict((n, label) for n, label, _s in choices(Locale("en"), WINTER))
    summer = dict((n, label) for n, label, _s in choices(Locale("en"), SUMMER))
    assert winter["Europe/Berlin"] == "(UTC+01:00) Berlin"
    assert summer["Europe/Berlin"] == "(UTC+02:00) Berlin"


def test_a_zone_is_found_by_its_country_its_name_and_its_offset():
    search = {n: s for n, _label, s in choices(Locale("ru"), WINTER)}
    assert search["Europe/Moscow"].split() == ["Russia", "Россия", "Europe/Moscow", "UTC+3"]
    assert "UTC+5:45" in search["Asia/Kathmandu"]


def test_a_stored_zone_no_longer_offered_stays_offered_first():
    rows = choices(Locale("en"), WINTER, keep="W-SU")
    assert rows[0][:2] == ("W-SU", "(UTC+03:00) Moscow (W-SU)")
    assert choices(Locale("en"), WINTER, keep="Mars/Olympus")[0][0] != "Mars/Olympus"
    assert len(choices(Locale("en"), WINTER, keep="Europe/Moscow")) == len(offered())


def test_the_settings_form_offers_zones_and_countries_in_the_page_language(app):
    with app.test_request_context(), force_locale("ru"):
        form = SendingSettingsForm(obj=Team(timezone="Europe/Moscow", phone_region="RU"))
        zones = {c.value: c for c in form.timezone.iter_choices()}
        assert zones["Europe/Moscow"].label.endswith(") Москва") and zones["Europe/Moscow"].selected
        assert "Россия" in zones["Europe/Moscow"].render_kw["data-search"]
        groups = list(form.phone_region.iter_groups())
    (_first, first), (_others, others) = groups
    assert [c.value for c in first] == list(FIRST_REGIONS)
    assert [c.label for c in first[:3]] == ["Россия (+7)", "Казахстан (+7)", "Беларусь (+375)"]
    assert first[0].selected
    names = [c.label for c in others]
    assert names.index("Австралия (+61)") < names.index("Ямайка (+1)")
    assert len(first) + len(others) == 245
    with app.test_request_context():
        form = SendingSettingsForm(obj=Team(timezone="W-SU", phone_region="KZ"))
        kept = form.timezone.iter_choices()[0]
        assert (kept.value, kept.selected) == ("W-SU", True)
        regions = [c for _group, group in form.phone_region.iter_groups() for c in group]
        assert next(c.label for c in regions if c.selected) == "Kazakhstan (+7)"


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
        assert "2 Mar 2026" in page and "1 Mar 2026" not in page


def test_contact_pages_read_a_zone_not_known_here_as_utc_like_every_other_page(app, make_person):
    """They made their own ZoneInfo of the stored name, without the fallback to UTC that every
    other page has: a zone this machine does not know (an older tzdata) failed them with 500."""
    person = make_person("ann@example.com")
    team = team_of(app, person)
    set_zone(app, team.id, "Mars/Olympus")
    for page in contact_pages(app, person, team.id).values():
        assert "1 Mar 2026" in page
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


def test_the_settings_page_offers_named_pickers_with_a_filter_box(app, make_person):
    person = make_person("ann@example.com")
    team = team_of(app, person)
    set_zone(app, team.id, "Europe/Moscow")
    page = person.get("/team/settings", headers=RU).text
    assert re.search(r'<option[^>]* selected value="Europe/Moscow">\(UTC\+03:00\) Москва<', page)
    assert re.search(r'<option[^>]* value="KZ"[^>]*>Казахстан \(\+7\)<', page)
    # The boxes that narrow each select, hidden until static/js/select-filter.js shows them.
    for field in ("sending-timezone", "sending-phone_region"):
        assert f'data-filter-for="{field}" hidden' in page
    assert "js/select-filter.js" in page


def test_a_stored_zone_no_longer_offered_is_kept_by_saving_the_settings(app, make_person):
    person = make_person("ann@example.com")
    team = team_of(app, person)
    set_zone(app, team.id, "W-SU")
    page = person.get("/team/settings").text
    assert re.search(r'<option[^>]* selected value="W-SU">\(UTC\+03:00\) Moscow \(W-SU\)<', page)
    form = {
        "sending-phone_region": "RU",
        "sending-timezone": "W-SU",
        "sending-price_per_part": "2.50",
        "sending-send_rate": "10",
    }
    assert person.post("/team/settings", form).status_code == 302
    assert team_of(app, person).timezone == "W-SU"
    refused = person.post("/team/settings", {**form, "sending-timezone": "Mars/Base"})
    assert refused.status_code == 400
