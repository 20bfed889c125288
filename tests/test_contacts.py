"""Contact lists, contacts by hand and by paste, pages by id, the stop list, roles, isolation."""

from __future__ import annotations

import re

from flask import Flask
from sqlalchemy import select

from tests.helpers import team_of, without_team
from webapp.domain import contacts
from webapp.extensions import db
from webapp.models import Contact, ContactList, StopListEntry


def make_list(person, name: str = "Customers") -> int:
    response = person.post("/contacts/lists", {"name": name})
    assert response.status_code == 302, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


def phones_of(app: Flask, list_id: int) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(select(Contact.phone).where(Contact.list_id == list_id)))


def count_of(app: Flask, list_id: int) -> int:
    with app.app_context():
        return db.session.get(ContactList, list_id).contact_count


def test_lists_are_created_renamed_and_deleted(app: Flask, make_person) -> None:
    owner = make_person("olga@example.com")
    assert "No lists yet." in owner.get("/contacts").text
    response = owner.post("/contacts/lists", {"name": "  "})
    assert response.status_code == 400 and "Give the list a name." in response.text

    list_id = make_list(owner, "Spring sale")
    owner.post(f"/contacts/lists/{list_id}/paste", {"numbers": "79161234567"})
    index = without_team(owner.get("/contacts").text)
    assert f'href="/contacts/lists/{list_id}">Spring sale</a>' in index
    assert '<td class="num">1</td>' in index

    assert owner.post(f"/contacts/lists/{list_id}/rename", {"name": "Autumn"}).status_code == 302
    assert "<h1>Autumn</h1>" in owner.get(f"/contacts/lists/{list_id}").text

    assert owner.post(f"/contacts/lists/{list_id}/delete").status_code == 302
    assert owner.get(f"/contacts/lists/{list_id}").status_code == 404
    with app.app_context():
        assert db.session.scalars(select(Contact)).all() == []


def test_add_one_contact_by_hand_with_fields(app: Flask, make_person) -> None:
    owner = make_person("olga@example.com")
    list_id = make_list(owner)
    response = owner.post(
        f"/contacts/lists/{list_id}/contacts",
        {"phone": "8 (916) 123-45-67", "more_fields": "name = Ivan\ncity: Kazan"},
    )
    assert response.status_code == 302
    assert "+79161234567 added." in owner.get(response.headers["Location"]).text  # as listed
    with app.app_context():
        contact = db.session.scalars(select(Contact)).one()
        assert (contact.phone, contact.fields) == ("79161234567", {"name": "Ivan", "city": "Kazan"})
        assert db.session.get(ContactList, list_id).field_names == ["name", "city"]

    # Known fields get their own inputs; errors are shown by the field, the input kept.
    page = owner.get(f"/contacts/lists/{list_id}").text
    assert 'name="field:name"' in page and 'name="field:city"' in page
    response = owner.post(
        f"/contacts/lists/{list_id}/contacts", {"phone": "+7 916 123-45-67", "field:name": "Olga"}
    )
    assert response.status_code == 400
    assert "79161234567 is already in this list." in response.text
    assert 'value="Olga"' in response.text
    response = owner.post(f"/contacts/lists/{list_id}/contacts", {"phone": "call me"})
    assert response.status_code == 400 and "not a phone number" in response.text
    assert 'value="call me"' in response.text
    response = owner.post(
        f"/contacts/lists/{list_id}/contacts", {"phone": "79161234568", "more_fields": "oops"}
    )
    assert response.status_code == 400 and "write a field as name = value" in response.text
    assert count_of(app, list_id) == 1


def test_paste_mixed_separators_reports_and_keeps_the_text(app: Flask, make_person) -> None:
    owner = make_person("olga@example.com")
    list_id = make_list(owner)
    owner.post(f"/contacts/lists/{list_id}/paste", {"numbers": "79161234567"})
    text = (
        "+7 916 123-45-67\n"  # already there
        "89161234568, 9161234569; 79161234570 79161234571\r\n"
        "hello\n"
        "123\n"
        "89161234568\n"  # repeated in the paste
    )
    response = owner.post(f"/contacts/lists/{list_id}/paste", {"numbers": text})
    assert response.status_code == 200
    page = response.text
    assert "<strong>4 added</strong>" in page
    assert "2 were already there" in page
    assert "2 are not phone numbers" in page
    assert "<code>hello</code>: not a phone number" in page
    assert "<code>123</code>: not a valid number" in page
    # The text stays in the box, for fixing what was refused.
    assert "hello\n123\n89161234568\n</textarea>" in page
    assert phones_of(app, list_id) == [
        "79161234567",
        "79161234568",
        "79161234569",
        "79161234570",
        "79161234571",
    ]
    assert count_of(app, list_id) == 5

    # All good: an empty box again. Nothing valid: an error by the box.
    response = owner.post(f"/contacts/lists/{list_id}/paste", {"numbers": "79161234572"})
    assert "<strong>1 added</strong>" in response.text
    assert "79161234572</textarea>" not in response.text
    response = owner.post(f"/contacts/lists/{list_id}/paste", {"numbers": "nothing here"})
    assert response.status_code == 400
    assert "None of these is a phone number." in response.text
    assert "nothing here</textarea>" in response.text


def test_paste_through_htmx_answers_the_box_and_refreshes_the_table(
    app: Flask, make_person
) -> None:
    owner = make_person("olga@example.com")
    list_id = make_list(owner)
    response = owner.post(
        f"/contacts/lists/{list_id}/paste",
        {"numbers": "79161234567\nbad"},
        headers={"HX-Request": "true", "HX-Target": "paste"},
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="paste"')
    assert response.headers["HX-Trigger"] == "contacts-changed"
    assert "bad</textarea>" in response.text
    table = owner.get(
        f"/contacts/lists/{list_id}", headers={"HX-Request": "true", "HX-Target": "contacts"}
    )
    assert table.text.lstrip().startswith('<section id="contacts"')
    assert "+79161234567" in table.text
    # The count in the page head follows the refreshed table, out of band.
    count = re.search(r'<span[^>]*id="contact-count"[^>]*>([^<]*)</span>', table.text)
    assert count is not None and 'hx-swap-oob="true"' in count.group(0)
    assert count.group(1).strip() == "1 contact"


def test_pages_go_by_id_and_search_by_prefix(app: Flask, make_person) -> None:
    owner = make_person("olga@example.com")
    team = team_of(app, owner)
    list_id = make_list(owner)
    with app.app_context():
        contact_list = db.session.get(ContactList, list_id)
        contacts.add_phones(db.session, contact_list, [(f"7916{i:07d}", {}) for i in range(120)])
        contacts.add_phones(db.session, contact_list, [(f"7903{i:07d}", {}) for i in range(3)])
        db.session.commit()
        assert contact_list.team_id == team.id
    first = owner.get(f"/contacts/lists/{list_id}").text
    assert first.count('class="phone"') == 50
    assert "123 contacts" in first
    assert "+79160000049" in first and "+79160000050" not in first
    with app.app_context():
        fiftieth = db.session.scalar(
            select(Contact.id).where(Contact.phone == "79160000049", Contact.list_id == list_id)
        )
    assert f"after={fiftieth}" in first
    second = owner.get(f"/contacts/lists/{list_id}?after={fiftieth}").text
    assert "+79160000050" in second and "+79160000049" not in second

    found = owner.get(f"/contacts/lists/{list_id}?q=%2B7 903").text
    assert found.count('class="phone"') == 3 and "+79030000002" in found
    assert "No contact matches 7999" in owner.get(f"/contacts/lists/{list_id}?q=7999").text


def test_removing_a_contact(app: Flask, make_person) -> None:
    owner = make_person("olga@example.com")
    list_id = make_list(owner)
    owner.post(f"/contacts/lists/{list_id}/paste", {"numbers": "79161234567 79161234568"})
    with app.app_context():
        contact_id = db.session.scalar(select(Contact.id).where(Contact.phone == "79161234567"))
    other_list = make_list(owner, "Other")
    # The contact must belong to the list in the address.
    assert owner.post(f"/contacts/lists/{other_list}/contacts/{contact_id}/remove").status_code == (
        404
    )
    assert owner.post(f"/contacts/lists/{list_id}/contacts/{contact_id}/remove").status_code == 302
    assert phones_of(app, list_id) == ["79161234568"]
    assert count_of(app, list_id) == 1


def test_stop_list_add_remove_and_marked_in_lists(app: Flask, make_person) -> None:
    owner = make_person("olga@example.com")
    team = team_of(app, owner)
    list_id = make_list(owner)
    owner.post(f"/contacts/lists/{list_id}/paste", {"numbers": "79161234567\n79161234568"})

    response = owner.post(
        "/contacts/stop-list",
        {"numbers": "+7 916 123-45-67; 8 916 123 45 67, junk", "reason": "replied STOP"},
    )
    assert response.status_code == 200
    assert "<strong>1 added</strong>" in response.text
    assert "1 was already there" in response.text
    assert "<code>junk</code>: not a phone number" in response.text
    assert "junk</textarea>" in response.text
    page = owner.get("/contacts/stop-list").text
    assert "+79161234567" in page and "replied STOP" in page and "1 number" in page

    # It stays in the list, marked.
    list_page = owner.get(f"/contacts/lists/{list_id}").text
    assert list_page.count('class="stop-listed"') == 1
    with app.app_context():
        assert contacts.stop_listed(db.session, team.id, ["79161234567", "79161234568"]) == {
            "79161234567"
        }
        entry_id = db.session.scalar(select(StopListEntry.id))
    assert owner.post(f"/contacts/stop-list/{entry_id}/remove").status_code == 302
    assert "The stop list is empty." in owner.get("/contacts/stop-list").text
    assert 'class="stop-listed"' not in owner.get(f"/contacts/lists/{list_id}").text
    assert phones_of(app, list_id) == ["79161234567", "79161234568"]


def test_field_names_of_lists_for_placeholders(app: Flask, make_person) -> None:
    owner = make_person("olga@example.com")
    bob = make_person("bob@example.com")
    team = team_of(app, owner)
    a, b = make_list(owner, "A"), make_list(owner, "B")
    theirs = make_list(bob, "Theirs")
    with app.app_context():
        db.session.get(ContactList, a).field_names = ["name", "city"]
        db.session.get(ContactList, b).field_names = ["city", "Фамилия"]
        db.session.get(ContactList, theirs).field_names = ["secret"]
        db.session.commit()
        assert contacts.field_names_of_lists(db.session, team.id, [a, b, theirs]) == [
            "name",
            "city",
            "Фамилия",
        ]
        assert contacts.field_names_of_lists(db.session, team.id, []) == []


def test_viewer_sees_but_cannot_change(app: Flask, make_person) -> None:
    owner = make_person("olga@example.com")
    team = team_of(app, owner)
    list_id = make_list(owner)
    owner.post(f"/contacts/lists/{list_id}/paste", {"numbers": "79161234567"})
    viewer = make_person("vera@example.com", team=team.id, role="viewer")
    sender = make_person("sam@example.com", team=team.id, role="sender")

    page = viewer.get(f"/contacts/lists/{list_id}").text
    assert "+79161234567" in page
    assert "Paste numbers" not in page and "Delete this list" not in page
    assert "New list" not in viewer.get("/contacts").text
    assert "Add to the stop list" not in viewer.get("/contacts/stop-list").text
    for path, data in (
        ("/contacts/lists", {"name": "X"}),
        (f"/contacts/lists/{list_id}/paste", {"numbers": "79161234568"}),
        (f"/contacts/lists/{list_id}/contacts", {"phone": "79161234568"}),
        (f"/contacts/lists/{list_id}/delete", {}),
        ("/contacts/stop-list", {"numbers": "79161234568"}),
    ):
        assert viewer.post(path, data).status_code == 403, path
    assert viewer.get(f"/contacts/lists/{list_id}/upload").status_code == 403
    assert phones_of(app, list_id) == ["79161234567"]

    assert "Paste numbers" in sender.get(f"/contacts/lists/{list_id}").text
    assert sender.post(
        f"/contacts/lists/{list_id}/paste", {"numbers": "79161234568"}
    ).status_code == (200)
    assert sender.get(f"/contacts/lists/{list_id}/upload").status_code == 200
    assert phones_of(app, list_id) == ["79161234567", "79161234568"]


def test_another_teams_ids_are_404(app: Flask, make_person) -> None:
    alice = make_person("alice@a.example")
    bob = make_person("bob@b.example")
    list_id = make_list(alice, "Alice secret list")
    alice.post(f"/contacts/lists/{list_id}/paste", {"numbers": "79161234567"})
    alice.post("/contacts/stop-list", {"numbers": "79161234568"})
    with app.app_context():
        contact_id = db.session.scalar(select(Contact.id))
        entry_id = db.session.scalar(select(StopListEntry.id))
    for path in (f"/contacts/lists/{list_id}", f"/contacts/lists/{list_id}/upload"):
        assert bob.get(path).status_code == 404
    for path in (
        f"/contacts/lists/{list_id}/paste",
        f"/contacts/lists/{list_id}/contacts/{contact_id}/remove",
        f"/contacts/lists/{list_id}/delete",
        f"/contacts/stop-list/{entry_id}/remove",
    ):
        assert bob.post(path, {"numbers": "79161234569"}).status_code == 404, path
    assert "Alice secret list" not in bob.get("/contacts").text
    assert "79161234568" not in bob.get("/contacts/stop-list").text
    assert phones_of(app, list_id) == ["79161234567"]
