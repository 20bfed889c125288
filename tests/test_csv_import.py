"""CSV imports: sniffing, the streaming import the worker runs, its report, claiming, re-runs,
and the upload → preview → import → report flow as people use it."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from tests.helpers import PASSWORD, csrf_token, sign_in, team_of, without_team
from webapp.domain import accounts, csv_import, csv_preview, placeholders, recipients, teams
from webapp.extensions import db
from webapp.jobs import imports as imports_tick
from webapp.models import Contact, ContactImport, ContactList, ImportState, Team, utcnow

# -- helpers -------------------------------------------------------------------------------------


def new_list(app: Flask, region: str = "RU", name: str = "Customers") -> tuple[int, int]:
    """A team (with ``region``) and a list of it: (team id, list id)."""
    with app.app_context():
        user = accounts.create_user(db.session, f"{name.lower()}-{region}@example.com", PASSWORD)
        team = teams.create_team(db.session, app.config, f"{name} {region}", user)
        team.phone_region = region
        contact_list = ContactList(team_id=team.id, name=name, field_names=[])
        db.session.add(contact_list)
        db.session.commit()
        return team.id, contact_list.id


def queue_import(
    app: Flask,
    list_id: int,
    content: bytes,
    *,
    phone_column: int | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    state: str = ImportState.QUEUED,
) -> int:
    """Store ``content`` as an upload and queue its import as the preview would."""
    root = Path(app.instance_path)
    stored, _size = csv_preview.store_upload(io.BytesIO(content), root)
    sniffed = None
    if encoding is None or delimiter is None or phone_column is None:
        sniffed = csv_preview.sniff(root / stored)
    with app.app_context():
        contact_list = db.session.get(ContactList, list_id)
        contact_import = ContactImport(
            team_id=contact_list.team_id,
            list_id=list_id,
            filename="contacts.csv",
            stored_path=stored,
            encoding=encoding or sniffed.encoding,
            delimiter=delimiter or sniffed.delimiter,
            phone_column=sniffed.phone_column if phone_column is None else phone_column,
            state=state,
        )
        db.session.add(contact_import)
        db.session.commit()
        return contact_import.id


def tick(app: Flask) -> int:
    with app.app_context():
        return csv_import.process_imports(db.session, Path(app.instance_path), utcnow)


def result(app: Flask, import_id: int) -> ContactImport:
    with app.app_context():
        contact_import = db.session.get(ContactImport, import_id)
        db.session.expunge(contact_import)
        return contact_import


def contacts_of(app: Flask, list_id: int) -> dict[str, dict]:
    with app.app_context():
        return {
            c.phone: c.fields
            for c in db.session.scalars(select(Contact).where(Contact.list_id == list_id))
        }


def list_of(app: Flask, list_id: int) -> ContactList:
    with app.app_context():
        contact_list = db.session.get(ContactList, list_id)
        db.session.expunge(contact_list)
        return contact_list


def report_lines(contact_import: ContactImport) -> list[str]:
    """The report's rows as read on the import's page (each reason kept untranslated)."""
    return [",".join(row) for row in csv_import.first_invalid_rows(contact_import.invalid_report)]


# -- sniffing ------------------------------------------------------------------------------------


def test_sniff_detects_encoding_delimiter_and_phone_column(tmp_path: Path) -> None:
    cases = [
        (b"name;phone\nIvan;+79161234567\n", "utf-8", ";", 1),
        ("\ufeffТелефон,Имя\n89161234567,Иван\n".encode(), "utf-8-sig", ",", 0),
        ("Имя;Номер телефона;Город\nИван;9161234567;Казань\n".encode("cp1251"), "cp1251", ";", 1),
        (b"id,msisdn\n1,79161234567\n", "utf-8", ",", 1),
        # No telling name: the column whose values are phones.
        (b"a,b,c\nx,79161234567,y\nz,79161234568,w\n", "utf-8", ",", 1),
    ]
    for content, encoding, delimiter, column in cases:
        path = tmp_path / "f.csv"
        path.write_bytes(content)
        sniffed = csv_preview.sniff(path)
        assert (sniffed.encoding, sniffed.delimiter, sniffed.phone_column) == (
            encoding,
            delimiter,
            column,
        ), content


def test_sniff_keeps_quoted_delimiters_inside_fields(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text('phone,name,note\n79161234567,"Ivanov, Ivan","a; b"\n' * 3)
    sniffed = csv_preview.sniff(path)
    assert sniffed.delimiter == ","
    assert sniffed.rows[0] == ["79161234567", "Ivanov, Ivan", "a; b"]


def test_sniff_refuses_what_is_not_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    for content, message in (
        (b"", "empty"),
        (b"\n\n  \n", "empty"),
        (b"PK\x03\x04\x00\x00binary", "binary"),
    ):
        path.write_bytes(content)
        with pytest.raises(csv_preview.CsvError, match=message):
            csv_preview.sniff(path)


# -- the import ----------------------------------------------------------------------------------


def test_import_normalises_russian_forms_and_keeps_fields(app: Flask) -> None:
    _, list_id = new_list(app)
    content = (
        b"name;phone;city\n"
        b"Ivan;+7 916 123-45-67;Moscow\n"
        b"Olga;89161234568;Kazan\n"
        b"Petr;9161234569;Tver\n"
        b"Anna;7 (916) 123-45-70;Omsk\n"
    )
    import_id = queue_import(app, list_id, content)
    assert tick(app) == 1
    done = result(app, import_id)
    assert (done.state, done.rows_read, done.added, done.duplicates, done.invalid) == (
        ImportState.DONE,
        4,
        4,
        0,
        0,
    )
    assert contacts_of(app, list_id) == {
        "79161234567": {"name": "Ivan", "city": "Moscow"},
        "79161234568": {"name": "Olga", "city": "Kazan"},
        "79161234569": {"name": "Petr", "city": "Tver"},
        "79161234570": {"name": "Anna", "city": "Omsk"},
    }
    contact_list = list_of(app, list_id)
    assert contact_list.field_names == ["name", "city"]
    assert contact_list.contact_count == 4
    assert not (Path(app.instance_path) / done.stored_path).exists(), "upload deleted when done"


def test_column_names_lose_what_a_placeholder_or_a_json_path_cannot_carry(app: Flask) -> None:
    """A header like ``Name "nick"`` or ``b\\s`` would be read by the preview (Python) but not
    by the SQL that writes the messages (SQLite's JSON paths cannot name a quote): the field is
    named without those characters, so both read the same value."""
    _, list_id = new_list(app)
    content = b'phone;Name "nick";b\\s;{city|x}\n+79161234567;Vanya;bs;Omsk\n'
    import_id = queue_import(app, list_id, content)
    assert tick(app) == 1
    assert result(app, import_id).added == 1
    assert list_of(app, list_id).field_names == ["Name nick", "b s", "city x"]
    fields = {"Name nick": "Vanya", "b s": "bs", "city x": "Omsk"}
    assert contacts_of(app, list_id) == {"79161234567": fields}
    template = "{Name nick}/{b s}/{city x}"
    with app.app_context():
        sql = db.session.scalar(select(recipients.rendered_text(template)).select_from(Contact))
    assert sql == placeholders.render(template, fields) == "Vanya/bs/Omsk"


def test_import_reads_national_numbers_in_the_teams_region(app: Flask) -> None:
    _, list_id = new_list(app, region="GB")
    content = b"phone\n07400 123456\n+44 7400 123457\n89161234567\n+79161234567\n"
    import_id = queue_import(app, list_id, content)
    tick(app)
    done = result(app, import_id)
    assert set(contacts_of(app, list_id)) == {"447400123456", "447400123457", "79161234567"}
    # 8 916 ... is a Russian trunk prefix, not a British number.
    assert (done.added, done.invalid) == (3, 1)
    assert report_lines(done) == ["4,89161234567,not a valid number"]


def test_import_of_comma_file_with_bom_and_quoted_fields(app: Flask) -> None:
    _, list_id = new_list(app)
    content = (
        "\ufeffPhone,Name,Note\n"
        '79161234567,"Ivanov, Ivan","likes ; and ,"\n'
        '"+7 916 123 45 68","Smith ""Jr""",multi\n'
    ).encode()
    import_id = queue_import(app, list_id, content)
    tick(app)
    assert result(app, import_id).added == 2
    assert contacts_of(app, list_id) == {
        "79161234567": {"Name": "Ivanov, Ivan", "Note": "likes ; and ,"},
        "79161234568": {"Name": 'Smith "Jr"', "Note": "multi"},
    }
    # Field names are the header exactly as written (stripped), without the BOM.
    assert list_of(app, list_id).field_names == ["Name", "Note"]


def test_import_of_windows_1251_file_with_cyrillic_header_and_values(app: Flask) -> None:
    _, list_id = new_list(app)
    content = "Фамилия;Телефон;Город\nИванов;8 916 123-45-67;Москва\nПетрова;;Казань\n".encode(
        "cp1251"
    )
    import_id = queue_import(app, list_id, content)
    assert result(app, import_id).encoding == "cp1251"
    tick(app)
    done = result(app, import_id)
    assert contacts_of(app, list_id) == {"79161234567": {"Фамилия": "Иванов", "Город": "Москва"}}
    assert (done.added, done.invalid) == (1, 1)
    assert report_lines(done) == ["3,,no phone"]
    assert list_of(app, list_id).field_names == ["Фамилия", "Город"]


def test_bad_rows_are_reported_with_the_reason(app: Flask) -> None:
    _, list_id = new_list(app)
    content = (
        b"phone;name;city\n"
        b"79161234567;Ivan;Moscow\n"  # 2: fine
        b"hello;Olga;Kazan\n"  # 3: not a phone
        b"123;Petr;Tver\n"  # 4: digits, but no number
        b";Anna;Omsk\n"  # 5: empty phone
        b"79161234568;Boris\n"  # 6: too few columns
        b"\n"  # 7: blank lines are not rows
        b"79161234569;Vera;Sochi;extra\n"  # 8: an extra column is ignored
    )
    import_id = queue_import(app, list_id, content)
    tick(app)
    done = result(app, import_id)
    assert (done.state, done.rows_read, done.added, done.duplicates, done.invalid) == (
        ImportState.DONE,
        6,
        2,
        0,
        4,
    )
    assert report_lines(done) == [
        "3,hello,not a phone number",
        "4,123,not a valid number",
        "5,,no phone",
        "6,79161234568,too few columns (2, the header has 3)",
    ]


def test_a_line_that_is_not_in_the_encoding_is_an_invalid_row(app: Flask) -> None:
    _, list_id = new_list(app)
    # UTF-8 at the start (decided on the first 64 KB), one Windows-1251 line far below.
    good = b"".join(b"7916%07d;Ivan\n" % i for i in range(7000))
    content = b"phone;name\n" + good + "79169999991;Иван\n".encode("cp1251") + b"79169999992;x\n"
    import_id = queue_import(app, list_id, content)
    assert result(app, import_id).encoding == "utf-8"
    tick(app)
    done = result(app, import_id)
    assert (done.state, done.rows_read, done.added, done.invalid) == (
        ImportState.DONE,
        7002,
        7001,
        1,
    )
    assert report_lines(done) == ["7002,79169999991,unreadable characters"]


def test_duplicates_within_the_file_and_against_the_list(app: Flask) -> None:
    _, list_id = new_list(app)
    first = queue_import(app, list_id, b"phone\n79161234567\n79161234568\n")
    tick(app)
    assert result(app, first).added == 2
    content = b"phone\n+79161234567\n79161234569\n89161234569\n9161234569\n79161234570\n"
    second = queue_import(app, list_id, content)
    tick(app)
    done = result(app, second)
    assert (done.rows_read, done.added, done.duplicates, done.invalid) == (5, 2, 3, 0)
    assert len(contacts_of(app, list_id)) == 4
    assert list_of(app, list_id).contact_count == 4


def test_duplicates_across_chunks(app: Flask) -> None:
    _, list_id = new_list(app)
    rows = [b"7916%07d" % (i % 6000) for i in range(csv_import.CHUNK_ROWS * 2 + 10)]
    import_id = queue_import(app, list_id, b"phone\n" + b"\n".join(rows) + b"\n")
    tick(app)
    done = result(app, import_id)
    assert (done.rows_read, done.added, done.duplicates) == (10010, 6000, 4010)
    assert list_of(app, list_id).contact_count == 6000


def test_rerunning_an_interrupted_import_adds_nothing_twice(app: Flask) -> None:
    _, list_id = new_list(app)
    content = b"phone;n\n" + b"".join(b"7916%07d;%d\n" % (i, i) for i in range(12000))
    import_id = queue_import(app, list_id, content)
    # A worker claimed it, wrote a chunk and died: the import stays running with a stale claim.
    with app.app_context():
        long_ago = utcnow() - timedelta(minutes=30)
        assert csv_import.claim_import(db.session, import_id, long_ago)
        contact_import = db.session.get(ContactImport, import_id)
        run = csv_import.ImportRun(db.session, contact_import, Path(app.instance_path), utcnow)
        run.clock = lambda: long_ago
        run._save(rows_read=0)
        run._write(5000, [(f"7916{i:07d}", {"n": str(i)}) for i in range(5000)], [(9, "x", "bad")])
    half = result(app, import_id)
    assert (half.state, half.added, half.invalid) == (ImportState.RUNNING, 5000, 1)

    # Not abandoned yet (as seen 5 minutes after the claim): nobody takes it.
    with app.app_context():
        assert not csv_import.claim_import(db.session, import_id, long_ago + timedelta(minutes=5))
    # Later it is: the tick re-claims it, the report starts afresh, nothing is added twice.
    assert tick(app) == 1
    done = result(app, import_id)
    assert (done.state, done.rows_read, done.added, done.duplicates, done.invalid) == (
        ImportState.DONE,
        12000,
        7000,
        5000,
        0,
    )
    assert done.invalid_report == ""
    assert len(contacts_of(app, list_id)) == 12000
    assert list_of(app, list_id).contact_count == 12000


def test_an_import_is_claimed_once(app: Flask) -> None:
    _, list_id = new_list(app)
    import_id = queue_import(app, list_id, b"phone\n79161234567\n")
    with app.app_context():
        now = utcnow()
        assert csv_import.claim_import(db.session, import_id, now)
        assert not csv_import.claim_import(db.session, import_id, now)
        db.session.get(ContactImport, import_id).state = ImportState.QUEUED
        db.session.commit()

    assert tick(app) == 1
    assert tick(app) == 0
    done = result(app, import_id)
    assert (done.state, done.added) == (ImportState.DONE, 1)
    assert len(contacts_of(app, list_id)) == 1


def test_pending_imports_wait_for_the_person(app: Flask) -> None:
    _, list_id = new_list(app)
    import_id = queue_import(app, list_id, b"phone\n79161234567\n", state=ImportState.PENDING)
    assert tick(app) == 0
    assert result(app, import_id).state == ImportState.PENDING


def test_the_scheduler_tick_runs_imports(app: Flask) -> None:
    _, list_id = new_list(app)
    import_id = queue_import(app, list_id, b"phone\n79161234567\n")
    with app.app_context():
        imports_tick.run(app)
    assert result(app, import_id).state == ImportState.DONE


@pytest.mark.parametrize(
    ("content", "phone_column", "error"),
    [
        (b"", 0, "empty"),
        (b"phone\n", 0, "no rows"),
        (b"phone\n\n\n", 0, "no rows"),
        (b"phone\n79161234567\n", 3, "phone column"),
        (b"phone\n" + b"7" * (2 * 1024 * 1024) + b"\n", 0, "longer than 1 MB"),
    ],
)
def test_a_bad_file_fails_in_plain_words(
    app: Flask, content: bytes, phone_column: int, error: str
) -> None:
    _, list_id = new_list(app)
    import_id = queue_import(
        app, list_id, content, phone_column=phone_column, encoding="utf-8", delimiter=";"
    )
    tick(app)
    failed = result(app, import_id)
    assert failed.state == ImportState.FAILED
    assert error in failed.error
    assert not (Path(app.instance_path) / failed.stored_path).exists()


def test_an_import_into_a_deleted_list_ends(app: Flask, make_person) -> None:
    owner = make_person("olga@example.com")
    team = team_of(app, owner)
    with app.app_context():
        contact_list = ContactList(team_id=team.id, name="Gone", field_names=[])
        db.session.add(contact_list)
        db.session.commit()
        list_id = contact_list.id
    import_id = queue_import(app, list_id, b"phone\n79161234567\n")
    assert owner.post(f"/contacts/lists/{list_id}/delete").status_code == 302
    assert tick(app) == 0
    with app.app_context():
        assert db.session.get(ContactImport, import_id) is None
        assert db.session.get(Team, team.id) is not None
    assert list(Path(app.instance_path, "uploads").iterdir()) == []


# -- the flow in the browser's words ---------------------------------------------------------------


def upload(person, list_id: int, content: bytes, name: str = "clients.csv"):
    return person.post(
        f"/contacts/lists/{list_id}/upload",
        {"file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def test_upload_preview_import_and_report(app: Flask, make_person) -> None:
    owner = make_person("olga@example.com")
    team = team_of(app, owner)
    response = owner.post("/contacts/lists", {"name": "Spring"})
    assert response.status_code == 302
    list_id = int(response.headers["Location"].rsplit("/", 1)[1])

    content = "Имя;Телефон;Город\nИван;8 916 123-45-67;Москва\nОльга;12;Казань\n".encode("cp1251")
    response = upload(owner, list_id, content)
    assert response.status_code == 302, response.text
    preview_path = response.headers["Location"]
    import_id = int(without_team(preview_path).split("/")[3])
    stored = Path(app.instance_path) / result(app, import_id).stored_path
    assert stored.parent.name == "uploads" and stored.read_bytes() == content

    page = owner.get(preview_path).text
    assert "Windows-1251" in page and '<th class="phone-column">Телефон</th>' in page
    assert "<td>Москва</td>" in page
    assert '<option selected value="1">Телефон</option>' in page
    # Read as UTF-8 instead, on request: the table shows what that looks like.
    assert "Телефон" not in owner.get(preview_path + "?encoding=utf-8&delimiter=;").text

    response = owner.post(preview_path, {"encoding": "cp1251", "delimiter": ";", "phone_column": 1})
    assert response.status_code == 302
    import_path = response.headers["Location"]
    assert without_team(import_path) == f"/contacts/imports/{import_id}"
    assert result(app, import_id).state == ImportState.QUEUED

    # While queued the page polls; the fragment answers 200 and keeps polling.
    page = owner.get(import_path).text
    assert 'hx-trigger="every 1s"' in page and "Waiting for the worker" in page
    fragment = owner.get(import_path, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "HX-Request" in fragment.headers["Vary"]

    tick(app)
    fragment = owner.get(import_path, headers={"HX-Request": "true"})
    assert fragment.status_code == 286, "done: the poll stops"
    assert "every 1s" not in fragment.text
    page = owner.get(import_path).text
    assert 'data-testid="added">1<' in page and 'data-testid="invalid">1<' in page
    assert "<code>12</code></td><td>not a valid number</td>" in page
    assert "Download invalid rows (CSV)" in page
    assert not stored.exists()

    download = owner.get(f"/contacts/imports/{import_id}/invalid.csv")
    assert download.status_code == 200
    assert download.mimetype == "text/csv"
    assert "clients-invalid-rows.csv" in download.headers["Content-Disposition"]
    assert download.get_data(as_text=True) == (
        "\ufeffRow,Phone,Reason\r\n3,12,not a valid number\r\n"
    )

    with app.app_context():
        contact = db.session.scalars(select(Contact).where(Contact.list_id == list_id)).one()
        assert (contact.team_id, contact.phone) == (team.id, "79161234567")
        assert contact.fields == {"Имя": "Иван", "Город": "Москва"}
    list_page = owner.get(f"/contacts/lists/{list_id}").text
    assert "+79161234567" in list_page and "<td>Москва</td>" in list_page


def test_upload_errors_are_shown_on_the_form(app: Flask, make_person) -> None:
    owner = make_person("olga@example.com")
    list_id = int(owner.post("/contacts/lists", {"name": "L"}).headers["Location"].split("/")[-1])
    response = owner.post(f"/contacts/lists/{list_id}/upload")
    assert response.status_code == 400 and "Choose a CSV file." in response.text
    response = upload(owner, list_id, b"\x00\x01\x02binary", "photo.csv")
    assert response.status_code == 400 and "binary data" in response.text
    assert list(Path(app.instance_path, "uploads").iterdir()) == []


def test_cancelling_an_upload_deletes_its_file(app: Flask, make_person) -> None:
    owner = make_person("olga@example.com")
    list_id = int(owner.post("/contacts/lists", {"name": "L"}).headers["Location"].split("/")[-1])
    preview_path = upload(owner, list_id, b"phone\n79161234567\n").headers["Location"]
    import_id = int(without_team(preview_path).split("/")[3])
    assert owner.post(f"/contacts/imports/{import_id}/cancel").status_code == 302
    with app.app_context():
        assert db.session.get(ContactImport, import_id) is None
    assert list(Path(app.instance_path, "uploads").iterdir()) == []


def test_too_large_upload_gets_a_friendly_page(make_app, monkeypatch) -> None:
    # Small enough that the test client keeps the body in memory (it leaks a temp file else).
    monkeypatch.setenv("IQSMS_UPLOAD_MAX_BYTES", str(64 * 1024))
    app = make_app()
    with app.app_context():
        user = accounts.create_user(db.session, "big@example.com", PASSWORD)
        team = teams.create_team(db.session, app.config, "Big", user)
        contact_list = ContactList(team_id=team.id, name="L", field_names=[])
        db.session.add(contact_list)
        db.session.commit()
        list_id = contact_list.id
    client = app.test_client()
    sign_in(client, "big@example.com")
    response = client.post(
        f"/contacts/lists/{list_id}/upload",
        data={
            "csrf_token": csrf_token(client),
            "file": (io.BytesIO(b"x" * 100_000), "big.csv"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    # The upload page again, the reason by the file field.
    assert "This file is larger than 64 KB, the most one upload takes." in response.text
    assert 'name="file"' in response.text
