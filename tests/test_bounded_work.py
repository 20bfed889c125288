"""Bounded work per request: the composer's check costs the same for 1 or 20 placeholders (at
most 20), a search by field value reads one window of contacts per page, request bodies are
small except the CSV upload's, pastes are at most 10,000 lines; and a GET never writes to the
database nor calls the gateway."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from werkzeug.datastructures import FileStorage
from werkzeug.routing.converters import IntegerConverter
from werkzeug.test import encode_multipart

from tests.helpers import (
    HX,
    add_list,
    csrf_token,
    form,
    make_campaign,
    new_draft,
    preview,
    stop,
    sync_senders,
    team_of,
    text_of,
)
from webapp.domain import composer, contact_search, contacts, field_stats, recipient_fields
from webapp.extensions import db
from webapp.jobs import contact_stats, heartbeat
from webapp.jobs.scheduler import default_ticks
from webapp.models import Campaign, Contact, ContactList, Team, utcnow


@pytest.fixture
def ann(app, make_person, sandbox):
    app.config["SANDBOX_URL"] = sandbox.base_url
    return make_person("ann@example.com")


def pasted_list(
    app, team_id: int, rows: list[tuple[str, dict[str, str]]], name: str = "Customers"
) -> int:
    """A list filled as the product fills it (its field statistics kept)."""
    with app.app_context():
        row = ContactList(team_id=team_id, name=name, field_names=[])
        db.session.add(row)
        db.session.flush()
        contacts.add_phones(db.session, row, rows)
        contacts.merge_field_names(row, [k for _, f in rows for k in f])
        db.session.commit()
        return row.id


@contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL statements run inside the block (in an app context)."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


# -- the composer's check ------------------------------------------------------------------------


def test_a_text_with_more_than_20_placeholders_is_refused_beside_the_text(app, ann):
    team = team_of(app, ann)
    fields = {f"f{k}": f"v{k}" for k in range(21)}
    list_id = pasted_list(app, team.id, [("79160000001", fields)])
    campaign_id = new_draft(ann)
    text = " ".join("{" + name + "}" for name in fields)
    html = preview(ann, campaign_id, list_ids=str(list_id), text=text)
    message = "A message can use at most 20 different placeholders; this one uses 21."
    assert message in text_of(html, "error-placeholder_limit")
    page = ann.post(f"/campaigns/{campaign_id}/edit", form(list_ids=str(list_id), text=text)).text
    assert message in text_of(page, "field-errors-text")  # by the text field
    with app.app_context():
        assert db.session.get(Campaign, campaign_id).text == text  # kept as typed
    # Twenty are fine.
    html = preview(ann, campaign_id, list_ids=str(list_id), text=text.rsplit(" ", 1)[0])
    assert "error-placeholder_limit" not in html


def test_the_checks_work_does_not_grow_with_its_placeholders(app, ann):
    team = team_of(app, ann)
    rows = [
        (f"7916000{i:04d}", {f"f{k}": f"value {i % (k + 2)}" for k in range(20)}) for i in range(50)
    ]
    list_id = pasted_list(app, team.id, rows)
    stop(app, team.id, "79160000003")
    counted = {}
    for n in (1, 5, 20):
        text = "Hi " + " ".join("{f" + str(k) + "}" for k in range(n))
        with app.app_context():
            draft = _draft(team.id, text, list_id)
            team_row = db.session.get(Team, team.id)
            with statements() as seen:
                result = composer.check(db.session, team_row, draft, utcnow())
        assert result.recipients.count == 49 and result.missing == {f"f{k}": 0 for k in range(n)}
        # No statement reads one placeholder's field from every contact.
        assert not [s for s in seen if "json_extract" in s.lower() or "->>" in s]
        counted[n] = len(seen)
    assert counted[1] == counted[5] == counted[20]


def test_field_statistics_agree_with_reading_every_contact(app, ann):
    """The statistics moved with the contacts (added, removed, stopped) tell the check what a
    pass over every contact would."""
    team = team_of(app, ann)
    rows = [
        ("79160000001", {"name": "Анна", "city": "Tver"}),
        ("79160000002", {"name": "Bob", "city": ""}),
        ("79160000003", {"name": "Carl 😀 the long-named", "city": "Omsk [north]"}),
        ("79160000004", {"city": "Moscow"}),
        ("79160000005", {"name": "Dora", "city": "Sochi"}),
    ]
    list_id = pasted_list(app, team.id, rows)
    stop(app, team.id, "79160000005")
    with app.app_context():
        contact = db.session.scalar(sa.select(Contact).where(Contact.phone == "79160000002"))
        contacts.remove_contact(db.session, contact)
        db.session.commit()
        team_row = db.session.get(Team, team.id)
        found = composer.recipients.resolve(db.session, team.id, [list_id], "79160000099", "RU")
        text = "Hello {name} from {city}"
        fast = recipient_fields.field_facts(db.session, team.id, found, ["name", "city"])
        assert field_stats.trusted(db.session, db.session.get(ContactList, list_id))
        slow = {n: field_stats.FieldFacts() for n in ("name", "city")}
        recipient_fields._row_by_row(db.session, team.id, found, slow)
        for fact in slow.values():
            fact.missing += len(found.pasted_only)
        assert {n: f.missing for n, f in fast.items()} == {"name": 2, "city": 1}
        assert {n: f.missing for n, f in slow.items()} == {"name": 2, "city": 1}
        assert {n: (f.filled, f.ucs2) for n, f in fast.items()} == {
            n: (f.filled, f.ucs2) for n, f in slow.items()
        }
        low, high = recipient_fields.parts_range(text, fast, found)
        assert (low, high) == recipient_fields.parts_range(text, slow, found)
        assert composer.check(db.session, team_row, _draft(team.id, text, list_id), utcnow())


def test_lists_that_share_phones_are_checked_from_their_statistics(app, ann, monkeypatch):
    """A phone in two chosen lists gets its first contact's fields: the statistics of both
    lists, less the later contacts of shared phones and the stopped ones, tell the check what
    a pass over every recipient would, without that pass."""
    team = team_of(app, ann)
    first = pasted_list(
        app,
        team.id,
        [
            ("79160000001", {"name": "Анна"}),
            ("79160000002", {"name": ""}),
            ("79160000003", {"name": "Carl"}),
            ("79160000005", {"name": "Dora"}),
        ],
    )
    second = pasted_list(
        app,
        team.id,
        [
            ("79160000001", {"name": ""}),  # shared: Анна's fields count, not these
            ("79160000002", {"name": "Бэла"}),  # shared: the first list's empty name counts
            ("79160000004", {"name": "Eve"}),
            ("79160000005", {"name": "Dora"}),  # shared and stopped
            ("79160000006", {}),
        ],
        name="VIP",
    )
    stop(app, team.id, "79160000005")
    read_row_by_row = []
    original = recipient_fields._row_by_row
    monkeypatch.setattr(
        recipient_fields,
        "_row_by_row",
        lambda *args: read_row_by_row.append(True) or original(*args),
    )
    with app.app_context():
        found = composer.recipients.resolve(db.session, team.id, [first, second], "", "RU")
        assert found.from_lists == 5
        fast = recipient_fields.field_facts(db.session, team.id, found, ["name"])
        assert not read_row_by_row  # from the statistics
        slow = {"name": field_stats.FieldFacts()}
        original(db.session, team.id, found, slow)
        # 1 Анна, 2 (empty), 3 Carl, 4 Eve, 6 (none): two lack a name, one is in Cyrillic.
        assert (fast["name"].missing, fast["name"].filled, fast["name"].ucs2) == (2, 3, 1)
        assert (slow["name"].missing, slow["name"].filled, slow["name"].ucs2) == (2, 3, 1)
        text = "Hello {name}"
        assert recipient_fields.parts_range(text, fast, found) == recipient_fields.parts_range(
            text, slow, found
        )

        monkeypatch.setattr(recipient_fields, "MAX_OVERLAP", 1)  # lists that mostly repeat
        recipient_fields.field_facts(db.session, team.id, found, ["name"])
        assert read_row_by_row == [True]


def _draft(team_id: int, text: str, list_id: int) -> Campaign:
    draft = Campaign(team_id=team_id, name="x", text=text, list_ids=[list_id])
    db.session.add(draft)
    db.session.flush()
    return draft


# -- searching a list ----------------------------------------------------------------------------


def test_a_field_search_reads_one_window_of_contacts_per_page(app, ann, monkeypatch):
    monkeypatch.setattr(contact_search, "WINDOW", 10)
    team = team_of(app, ann)
    rows = [(f"7916000{i:04d}", {"name": "Anna" if i == 27 else f"N{i}"}) for i in range(35)]
    list_id = add_list(app, team.id, "Big", rows)
    path = f"/contacts/lists/{list_id}?q=anna"
    page = ann.get(path).text
    assert "No contact matches anna in this part of the list." in page
    assert "Search further" in text_of(page, "search-further")
    found, seen = [], 0
    while True:
        seen += 1
        with app.app_context():
            contact_list = db.session.get(ContactList, list_id)
            after = re.search(r"after=(\d+)", path)
            result = contacts.contacts_page(
                db.session, contact_list, int(after.group(1)) if after else None, "anna"
            )
        found += [c.phone for c in result.contacts]
        if result.searched_to is None:
            break
        path = f"/contacts/lists/{list_id}?q=anna&after={result.searched_to}"
        assert ann.get(path).status_code == 200
    assert found == ["79160000027"] and seen == 4  # 10 + 10 + 10 + 5 contacts
    # A phone prefix goes by the index: no window.
    assert "search-further" not in ann.get(f"/contacts/lists/{list_id}?q=7916000").text


# -- request bodies ------------------------------------------------------------------------------


def test_a_form_body_over_a_megabyte_is_refused_anonymously(app, client):
    token = csrf_token(client)
    body = {"csrf_token": token, "email": "x@example.com", "password": "p" * (2 * 1024 * 1024)}
    response = client.post("/login", data=body)
    assert response.status_code == 413
    assert "at most 1 MB" in response.text and "nothing was saved" in response.text


def test_the_form_limit_is_a_setting(make_app, monkeypatch):
    monkeypatch.setenv("IQSMS_MAX_CONTENT_LENGTH", str(4 * 1024 * 1024))
    monkeypatch.setenv("IQSMS_MAX_FORM_MEMORY_SIZE", str(4 * 1024 * 1024))  # one field's
    client = make_app().test_client()
    body = {"csrf_token": csrf_token(client), "email": "x@example.com", "password": "p" * 2**21}
    assert client.post("/login", data=body).status_code == 200  # read, and refused as a login


def test_only_the_csv_upload_takes_large_bodies(app, ann):
    team = team_of(app, ann)
    list_id = add_list(app, team.id, "L", [])
    big = b"phone;name\n" + b"".join(b"7916%07d;Name %d\n" % (i, i) for i in range(150_000))
    assert len(big) > 2 * 1024 * 1024
    # Encoded here, in memory: the test client would spool a large body to a temporary file
    # it never closes.
    boundary, body = encode_multipart(
        {"csrf_token": csrf_token(ann.client), "file": FileStorage(io.BytesIO(big), "big.csv")}
    )
    response = ann.client.post(
        f"/contacts/lists/{list_id}/upload",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert response.status_code == 302 and "/preview" in response.headers["Location"]
    numbers = "\n".join(f"7916{i:07d}" for i in range(200_000))  # 2.4 MB
    response = ann.post(f"/contacts/lists/{list_id}/paste", {"numbers": numbers})
    assert response.status_code == 413 and "at most 1 MB" in response.text

    # A stranger's large body is refused before it is read (it would be spooled to disk).
    stranger = ann.client.application.test_client()
    response = stranger.post(
        f"/contacts/lists/{list_id}/upload",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert response.status_code == 413 and "at most 1 MB" in response.text
    response = ann.post(f"/contacts/lists/{list_id}/paste", {"numbers": numbers}, headers=HX)
    assert response.headers["HX-Retarget"] == "main"  # a notice where the person is
    assert 'data-testid="too-large"' in response.text
    with app.app_context():
        assert db.session.get(ContactList, list_id).contact_count == 0  # nothing half-done


def test_pasting_more_than_10000_lines_is_refused_beside_the_box_and_kept(app, ann):
    team = team_of(app, ann)
    list_id = add_list(app, team.id, "L", [])
    numbers = "\n".join(f"7916{i:07d}" for i in range(10_001))
    response = ann.post(f"/contacts/lists/{list_id}/paste", {"numbers": numbers})
    assert response.status_code == 400
    assert "Paste at most 10,000 lines at a time; this has 10,001." in response.text
    assert "79160010000" in response.text  # what was typed stays in the box
    with app.app_context():
        assert db.session.get(ContactList, list_id).contact_count == 0

    campaign_id = new_draft(ann)
    html = preview(ann, campaign_id, pasted_numbers=numbers)
    assert "Paste at most 10,000 lines at a time" in text_of(html, "error-pasted_lines")
    with app.app_context():
        assert db.session.get(Campaign, campaign_id).pasted_numbers == numbers
    page = ann.get(f"/campaigns/{campaign_id}/edit").text
    assert "Paste at most 10,000 lines" in text_of(page, "field-errors-pasted_numbers")
    assert "at most 10,000 lines" in page  # stated beside the box before anyone pastes


# -- a GET never writes --------------------------------------------------------------------------


def dump(app) -> dict[str, list[tuple]]:
    """Every row of every table, in key order."""
    with app.app_context(), db.engine.connect() as connection:
        metadata = sa.MetaData()
        metadata.reflect(connection)
        tables = {}
        for name, table in metadata.tables.items():
            order = list(table.primary_key.columns) or list(table.columns)
            tables[name] = [tuple(r) for r in connection.execute(table.select().order_by(*order))]
        return tables


class CountingGateway:
    """Counts the HTTP requests the sandbox serves (its WSGI app, wrapped)."""

    def __init__(self, wsgi_app: Any) -> None:
        self.wsgi_app, self.calls = wsgi_app, []

    def __call__(self, environ: dict, start_response: Any) -> Any:
        self.calls.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")))
        return self.wsgi_app(environ, start_response)


def test_no_get_route_writes_or_calls_the_gateway(app, ann, sandbox):
    team = team_of(app, ann)
    sync_senders(app, team.id)
    list_id = add_list(app, team.id, "L", [("79160000001", {"name": "Ann"})])
    stop(app, team.id, "79160000009")
    draft_id = new_draft(ann)
    preview(ann, draft_id, list_ids=str(list_id))
    sent_id = make_campaign(app, team, 3)
    # A draft never opened: no sender yet (opening it must not store the default one).
    fresh_id = int(ann.post("/campaigns/new").headers["Location"].split("/")[-2])
    upload = ann.post(
        f"/contacts/lists/{list_id}/upload",
        {"file": (io.BytesIO(b"phone;name\n79160000002;Bo\n"), "a.csv")},
        content_type="multipart/form-data",
    )
    import_id = int(re.search(r"/imports/(\d+)/", upload.headers["Location"]).group(1))
    with app.app_context():
        contact_id = db.session.scalar(sa.select(Contact.id).where(Contact.list_id == list_id))
        entry_id = db.session.scalar(sa.text("SELECT id FROM stop_list"))
    values = {
        "campaign_id": [draft_id, fresh_id, sent_id],
        "list_id": [list_id],
        "import_id": [import_id],
        "contact_id": [contact_id],
        "entry_id": [entry_id],
        "team_id": [team.id],
    }
    gateway = CountingGateway(sandbox.server.app)
    sandbox.server.app = gateway
    heartbeat.run(app)  # a worker is alive: /readyz answers 200, not 503
    before = dump(app)
    visited = []
    rules = sorted(app.url_map.iter_rules(), key=lambda r: ("logout" in r.endpoint, r.rule))
    for rule in rules:
        if "GET" not in (rule.methods or ()) or rule.endpoint == "static":
            continue
        for args in _arguments(rule, values):
            with app.test_request_context():
                path = _url(rule, args)
            for headers in ({}, HX):
                response = ann.get(path, headers=headers)
                assert response.status_code < 500, (path, response.status_code)
                visited.append(path)
    assert len(visited) > 40, visited
    after = dump(app)
    changed = {name for name in before if before[name] != after.get(name)}
    assert changed == set(), {n: (before[n][-3:], after[n][-3:]) for n in changed}
    # No call of the iQSMS API (senders.json, balance.json...). The team's sandbox account
    # page reads that account from the sandbox's control API (its own state, GET only): a
    # read of the built-in simulator, not of the gateway, and it changes nothing there.
    api_calls = [c for c in gateway.calls if not (c[0] == "GET" and c[1].startswith("/_sandbox/"))]
    assert api_calls == [], api_calls

    # Sender names never fetched: opening the composer still asks the gateway nothing.
    with app.app_context():
        db.session.execute(sa.text("DELETE FROM sender_names"))
        db.session.commit()
    before = dump(app)
    assert ann.get(f"/campaigns/{fresh_id}/edit").status_code == 200
    assert dump(app) == before
    assert [c for c in gateway.calls if not c[1].startswith("/_sandbox/")] == []


def _arguments(rule: Any, values: dict[str, list[Any]]) -> list[dict[str, Any]]:
    choices: list[dict[str, Any]] = [{}]
    for name in sorted(rule.arguments - set(rule.defaults or {})):
        numeric = isinstance(rule._converters[name], IntegerConverter)
        given = values.get(name) or [1 if numeric else "x"]
        choices = [{**c, name: v} for c in choices for v in given]
    return choices


def _url(rule: Any, args: dict[str, Any]) -> str:
    from flask import url_for

    return url_for(rule.endpoint, **args)


def test_the_worker_counts_unknown_field_statistics_again(app, ann):
    """A list written around the app (or before there were statistics) is counted row by row
    until the worker's contact-stats tick counts it again; both say the same."""
    team = team_of(app, ann)
    rows = [("79160000001", {"name": "Ann"}), ("79160000002", {"name": ""}), ("79160000003", {})]
    list_id = add_list(app, team.id, "Old", rows)
    older = add_list(app, team.id, "Older", rows[:1])
    with app.app_context():
        row = db.session.get(ContactList, list_id)
        assert field_stats.trusted(db.session, row) is None
        found = composer.recipients.resolve(db.session, team.id, [list_id], "", "RU")
        slow = recipient_fields.field_facts(db.session, team.id, found, ["name"])
    assert any(t.name == "contact-stats" for t in default_ticks())
    with app.app_context():
        contact_stats.run(app)
        row = db.session.get(ContactList, list_id)
        assert field_stats.trusted(db.session, row) is not None and row.contact_count == 3
        # Every list not known is counted in the same run, within its time budget.
        assert field_stats.trusted(db.session, db.session.get(ContactList, older)) is not None
        assert field_stats.unknown_lists(db.session, limit=5) == []
        with statements() as seen:
            fast = recipient_fields.field_facts(db.session, team.id, found, ["name"])
        assert not [s for s in seen if "FROM contacts" in s and "max(" not in s]
    assert (fast["name"].missing, fast["name"].filled) == (slow["name"].missing, 1) == (2, 1)
