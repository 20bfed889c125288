"""Phone rules in one place: pasted numbers split alike in the composer, lists and the stop list;
one prefix search (8 916... is 7 916...) on every page that searches phones."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.helpers import add_list, new_draft, preview, stop, team_of, text_of
from webapp.domain import contacts
from webapp.extensions import db
from webapp.models import Contact, ContactList, StopListEntry
from webapp.phones import after_prefix, phone_prefix, split_pasted, starts_with

# Two numbers with a space between them, then one written in groups and one more after a tab.
PASTED = "79161234567 79161234568\n+7 916 123-45-69\t79161234570"
PHONES = ["79161234567", "79161234568", "79161234569", "79161234570"]


@pytest.fixture
def ann(app, make_person, sandbox):
    app.config["SANDBOX_URL"] = sandbox.base_url
    return make_person("ann@example.com")


def make_list(person) -> int:
    response = person.post("/contacts/lists", {"name": "Customers"})
    assert response.status_code == 302, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


# -- pasting ---------------------------------------------------------------------------------------


def test_pasted_numbers_are_the_same_numbers_in_the_composer(app, ann):
    html = preview(ann, new_draft(ann), pasted_numbers=PASTED)
    assert text_of(html, "recipient-count") == "4"
    assert 'data-testid="invalid-numbers"' not in html


def test_pasted_numbers_are_the_same_numbers_in_a_list(app, ann):
    list_id = make_list(ann)
    response = ann.post(f"/contacts/lists/{list_id}/paste", {"numbers": PASTED})
    assert "<strong>4 added</strong>" in response.text
    assert "0 are not phone numbers" in response.text
    with app.app_context():
        phones = db.session.scalars(select(Contact.phone).where(Contact.list_id == list_id))
        assert sorted(phones) == PHONES


def test_pasted_numbers_are_the_same_numbers_on_the_stop_list(app, ann):
    response = ann.post("/contacts/stop-list", {"numbers": PASTED})
    assert "<strong>4 added</strong>" in response.text
    with app.app_context():
        assert sorted(db.session.scalars(select(StopListEntry.phone))) == PHONES


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+7 916 123-45-67", [("+7 916 123-45-67", "79161234567")]),
        ("8 (916) 123 45 67", [("8 (916) 123 45 67", "79161234567")]),
        (
            "+7 916 123-45-67 +7 916 123-45-68",
            [("+7 916 123-45-67", "79161234567"), ("+7 916 123-45-68", "79161234568")],
        ),
        ("79161234567  12345678", [("79161234567", "79161234567"), ("12345678", None)]),
        ("hello world", [("hello world", None)]),
        ("+7 916 123-45-6", [("+7 916 123-45-6", None)]),
        ("a;b,\tc\r\n", [("a", None), ("b", None), ("c", None)]),
        ("", []),
    ],
)
def test_split_pasted(text, expected):
    assert [(p.given, p.phone) for p in split_pasted(text, "RU")] == expected


def test_refused_numbers_say_why():
    reasons = {p.given: p.reason for p in split_pasted("hello\n123\n79161234567", "RU")}
    assert reasons == {
        "hello": "not a phone number",
        "123": "not a valid number",
        "79161234567": None,
    }


# -- searching by prefix ---------------------------------------------------------------------------


def test_prefix_rules():
    assert phone_prefix("+7 (916) 12-") == "791612"
    assert phone_prefix("8 916") == "7916"
    assert phone_prefix("8") == "8"  # a lone 8 may start another country's code
    assert after_prefix("7916") == "7917"
    assert after_prefix("7919") == "792"
    assert after_prefix("99") is None


def test_prefix_search_is_an_index_range(app, ann):
    team = team_of(app, ann)
    phones = ["79159999999", "79160000000", "79169999999", "79170000000", "99999999999"]
    stop(app, team.id, *phones)
    with app.app_context():
        for prefix in ("7916", "791", "7", "99", "9", ""):
            query = select(StopListEntry.phone).where(starts_with(StopListEntry.phone, prefix))
            assert "LIKE" not in str(query.compile(db.engine)).upper()
            found = sorted(db.session.scalars(query))
            assert found == [p for p in phones if p.startswith(prefix)], prefix


def test_8_9_finds_7_9_on_lists_and_the_stop_list(app, ann):
    list_id = make_list(ann)
    ann.post(f"/contacts/lists/{list_id}/paste", {"numbers": "79161234567\n79031234567"})
    ann.post("/contacts/stop-list", {"numbers": "79161234567\n79031234567"})
    for query in ("8916", "8 (916) 12", "+7916"):
        page = ann.get(f"/contacts/lists/{list_id}", query_string={"q": query}).text
        assert page.count('class="phone"') == 1 and "+79161234567" in page, query
        page = ann.get("/contacts/stop-list", query_string={"q": query}).text
        assert page.count('class="phone"') == 1 and "+79161234567" in page, query


def test_a_list_search_finds_names_and_any_field_in_any_case(app, ann):
    team = team_of(app, ann)
    list_id = add_list(
        app,
        team.id,
        "Customers",
        [
            ("79161111111", {"name": "Иванов Пётр", "city": "Kazan"}),
            ("79162222222", {"name": "Olga", "city": "Москва", "code": "50%_off"}),
            ("79163333333", {"name": "Boris", "city": "Omsk"}),
        ],
        fields=("name", "city", "code"),
    )

    def found(query: str) -> list[str]:
        page = ann.get(f"/contacts/lists/{list_id}", query_string={"q": query}).text
        return sorted(p for p in ("79161111111", "79162222222", "79163333333") if p in page)

    assert found("иванов") == ["79161111111"]
    assert found("ПЁТР") == ["79161111111"]
    assert found("kazan") == ["79161111111"]
    assert found("моск") == ["79162222222"]
    assert found("O") == ["79162222222", "79163333333"]  # Olga, Omsk; not "Boris" alone
    assert found("%_") == ["79162222222"]  # LIKE's wildcards are plain characters
    assert found("name") == []  # field names are not values
    assert "No contact matches Nobody." in ann.get(f"/contacts/lists/{list_id}?q=Nobody").text


def test_a_search_by_field_pages_like_the_whole_list(app, ann):
    team = team_of(app, ann)
    people = [(f"7916{i:07d}", {"name": "Anna" if i % 2 else "Boris"}) for i in range(130)]
    list_id = add_list(app, team.id, "Big", people)
    with app.app_context():
        contact_list = db.session.get(ContactList, list_id)
        page = contacts.contacts_page(db.session, contact_list, query="anna")
        assert len(page.contacts) == contacts.PAGE_SIZE and page.next_after is not None
        rest = contacts.contacts_page(db.session, contact_list, page.next_after, "anna")
        assert len(rest.contacts) == 15 and rest.next_after is None
        assert all(c.fields["name"] == "Anna" for c in page.contacts + rest.contacts)
