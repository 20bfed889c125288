"""The one CSV writer: the format for the person's Excel (separator, decimal mark, BOM, times
it reads as times) or plain CSV, CRLF, cells a spreadsheet would run as formulas made plain
text, streamed in blocks; and every CSV the app offers (here: the invalid rows of an import,
the spending report) uses it, with headers in the person's language."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from flask import Flask

from tests.helpers import PASSWORD, Person, sign_in, without_team
from webapp import csv_writer
from webapp.csv_writer import EXCEL_EN, EXCEL_RU, PLAIN
from webapp.domain import accounts, csv_import, teams
from webapp.extensions import babel, db
from webapp.models import utcnow

FORMULA = '=HYPERLINK("http://evil.example","click")'


def test_stream_writes_bom_crlf_and_safe_cells():
    rows = [["name", "n"], [FORMULA, 3], ["+7 916", -1], ["@sum", None], ["plain", 2.5]]
    body = "".join(csv_writer.stream(rows))
    assert body.startswith("\ufeffname,n\r\n")
    assert body.count("\r\n") == 5 and "\n" not in body.replace("\r\n", "")
    assert list(csv.reader(io.StringIO(body[1:]))) == [
        ["name", "n"],
        ["'" + FORMULA, "3"],
        ["'+7 916", "-1"],  # text is made plain; numbers stay numbers
        ["'@sum", ""],
        ["plain", "2.5"],
    ]


def test_stream_yields_blocks_of_rows():
    blocks = list(csv_writer.stream([[i] for i in range(5)], rows_per_block=2))
    assert blocks == ["\ufeff0\r\n1\r\n", "2\r\n3\r\n", "4\r\n"]
    assert list(csv_writer.stream([])) == ["\ufeff"]


def test_a_cell_is_made_safe_once():
    once = csv_writer.safe_cell("=1+1")
    assert once == "'=1+1" and csv_writer.safe_cell(once) == once


def test_a_name_beyond_ascii_goes_as_filename_star():
    assert csv_writer.disposition("a-b.csv") == 'attachment; filename="a-b.csv"'
    value = csv_writer.disposition("клиенты.csv")
    value.encode("latin-1")  # a WSGI header must be
    assert "filename*=UTF-8''%D0%BA%D0%BB%D0%B8%D0%B5%D0%BD%D1%82%D1%8B.csv" in value


def upload_and_import(app: Flask, person, content: bytes, name: str = "clients.csv") -> int:
    list_id = int(person.post("/contacts/lists", {"name": "L"}).headers["Location"].split("/")[-1])
    response = person.post(
        f"/contacts/lists/{list_id}/upload",
        {"file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.text
    preview = response.headers["Location"]
    assert person.post(preview, {"encoding": "utf-8", "delimiter": ";", "phone_column": 0})
    with app.app_context():
        csv_import.process_imports(db.session, Path(app.instance_path), utcnow)
    return int(without_team(preview).split("/")[3])


def test_invalid_rows_from_an_upload_come_back_as_plain_text(app: Flask, make_person) -> None:
    owner = make_person("olga@example.com")
    content = f'phone;note\n79161234567;ok\n"{FORMULA.replace(chr(34), chr(34) * 2)}";x\n@cmd;y\n'
    import_id = upload_and_import(app, owner, content.encode())

    download = owner.get(f"/contacts/imports/{import_id}/invalid.csv")
    body = download.get_data(as_text=True)
    assert body.startswith("\ufeffRow,Phone,Reason\r\n")
    assert list(csv.reader(io.StringIO(body[1:]))) == [
        ["Row", "Phone", "Reason"],
        ["3", "'" + FORMULA, "not a phone number"],
        ["4", "'@cmd", "not a phone number"],
    ]
    # The page shows what the file held, as text.
    page = owner.get(f"/contacts/imports/{import_id}").text
    assert "<code>@cmd</code>" in page


def test_invalid_rows_of_a_file_with_a_cyrillic_name(app: Flask, make_person) -> None:
    owner = make_person("olga@example.com")
    import_id = upload_and_import(app, owner, b"phone\n123\n", name="клиенты.csv")
    download = owner.get(f"/contacts/imports/{import_id}/invalid.csv")
    assert download.status_code == 200
    disposition = download.headers["Content-Disposition"]
    assert "filename*=UTF-8''" in disposition and "-invalid-rows.csv" in disposition
    disposition.encode("latin-1")


# -- formats: what Excel in each language opens as it is ----------------------------------------

SENT = datetime(2026, 12, 1, 11, 30, tzinfo=UTC)  # 14:30 in Moscow
ROWS = [
    ["Name", "Cost, RUB", "Sent"],
    ["Анна; Ко", csv_writer.Number("1234.50"), SENT],
    ["=1", Decimal("-3.5"), None],
]


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (
            EXCEL_RU,
            '\ufeffName;Cost, RUB;Sent\r\n"Анна; Ко";1234,50;2026-12-01 14:30:00\r\n\'=1;-3,5;\r\n',
        ),
        (
            EXCEL_EN,
            '\ufeffName,"Cost, RUB",Sent\r\nАнна; Ко,1234.50,2026-12-01 14:30:00\r\n\'=1,-3.5,\r\n',
        ),
        (
            PLAIN,
            'Name,"Cost, RUB",Sent\r\nАнна; Ко,1234.50,2026-12-01T14:30:00+03:00\r\n\'=1,-3.5,\r\n',
        ),
    ],
)
def test_each_format_writes_its_separator_decimal_mark_and_times(fmt, expected) -> None:
    """Russian Excel splits at ``;`` and reads ``1234,50``; English Excel ``,`` and ``1234.50``;
    both read ``2026-12-01 14:30:00`` (the team's zone) as a date and time. Numbers have no
    thousands separator and are never made formula-safe (``-3,5`` stays a number)."""
    body = "".join(csv_writer.stream(ROWS, fmt=fmt, zone=ZoneInfo("Europe/Moscow")))
    assert body.encode("utf-8") == expected.encode("utf-8")
    assert body.encode("utf-8").startswith(b"\xef\xbb\xbf") is fmt.bom


@pytest.mark.parametrize(
    ("language", "chosen", "expected"),
    [
        ("ru-RU,ru;q=0.9,en;q=0.5", "", EXCEL_RU),
        ("en-GB,en;q=0.9", "", EXCEL_EN),
        ("ru", "excel-en", EXCEL_EN),
        ("en", "plain", PLAIN),
        ("ru", "nonsense", EXCEL_RU),
    ],
)
def test_the_format_follows_the_language_unless_the_person_chose_one(
    app: Flask, language: str, chosen: str, expected: csv_writer.CsvFormat
) -> None:
    headers = {"Accept-Language": language}
    with app.test_request_context(f"/x.csv?format={chosen}", headers=headers):
        assert csv_writer.chosen_format() is expected


def test_a_download_link_offers_the_languages_excel_first_and_the_others(make_person) -> None:
    person = make_person("olga@example.com")
    for language, first in (("en", "excel-en"), ("ru", "excel-ru")):
        html = person.get("/reports/spending", headers={"Accept-Language": language}).text
        links = re.findall(
            r'href="([^"]*spending\.csv[^"]*)" download data-testid="csv([-\w]*)"', html
        )
        assert [(f"format={first}" in url, testid) for url, testid in links[:1]] == [(True, "")]
        offered = {re.search(r"format=([-\w]+)", url).group(1) for url, _ in links}
        assert offered == {"excel-ru", "excel-en", "plain"}


def russian_catalogue(folder: Path, translations: dict[str, str]) -> Path:
    """A throwaway compiled Russian catalogue (the real one is merged by the lead)."""
    catalogue = Catalog(locale="ru")
    for msgid, text in translations.items():
        catalogue.add(msgid, text)
    target = folder / "ru" / "LC_MESSAGES"
    target.mkdir(parents=True)
    with (target / "messages.mo").open("wb") as handle:
        write_mo(handle, catalogue)
    return folder


@pytest.fixture
def fresh_translations() -> Iterator[None]:
    """Flask-Babel keeps loaded catalogues on the one Babel object of every app in the
    process: forget them before and after a test that brings its own."""
    babel.domain_instance.cache.clear()
    yield
    babel.domain_instance.cache.clear()


@pytest.fixture
def russian_reader(make_app, tmp_path: Path, fresh_translations) -> tuple[Flask, Person]:
    """An app with a throwaway Russian catalogue, and a team owner on it whose browser asks
    for Russian."""
    folder = russian_catalogue(
        tmp_path / "catalogue",
        {
            "Campaign": "Кампания",
            "Cost, RUB": "Стоимость, руб.",
            "Row": "Строка",
            "Phone": "Телефон",
            "Reason": "Причина",
            "not a valid number": "неверный номер",
        },
    )
    app = make_app(BABEL_TRANSLATION_DIRECTORIES=str(folder))
    with app.app_context():
        owner = accounts.create_user(db.session, "olga@example.com", PASSWORD)
        teams.create_team(db.session, app.config, "Ромашка", owner)
        db.session.commit()
        owner_id = owner.id
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru-RU,ru;q=0.9"
    assert sign_in(client, "olga@example.com").status_code == 302
    return app, Person(owner_id, "olga@example.com", client)


def test_a_russian_reader_gets_russian_headers_and_russian_excels_marks(russian_reader) -> None:
    _app, person = russian_reader
    query = "/reports/spending.csv?period=custom&from=2030-03-09&to=2030-03-09"
    russian = person.get(query).get_data()
    assert russian.startswith("\ufeffКампания;Sender;Created by;Messages;".encode())
    lines = russian.decode("utf-8-sig").splitlines()
    assert ";Стоимость, руб.;" in lines[0]
    assert lines[-1] == "Total;;;0;0;0;0,00;no;0;0,00;0;0;"
    english = person.get(query, headers={"Accept-Language": "en"}).get_data()
    assert english.decode("utf-8-sig").splitlines()[-1] == "Total,,,0,0,0,0.00,no,0,0.00,0,0,"


def test_an_imports_reasons_are_written_in_the_readers_language(russian_reader) -> None:
    """The rows are written after the request has ended (streamed): still in its language."""
    app, person = russian_reader
    import_id = upload_and_import(app, person, b"phone\n12\n")
    download = person.get(f"/contacts/imports/{import_id}/invalid.csv")
    assert download.is_streamed
    assert download.get_data() == "\ufeffСтрока;Телефон;Причина\r\n2;12;неверный номер\r\n".encode()
    plain = person.get(f"/contacts/imports/{import_id}/invalid.csv?format=plain").get_data()
    assert plain == "Строка,Телефон,Причина\r\n2,12,неверный номер\r\n".encode()


def test_a_download_is_streamed_and_not_compressed(make_person) -> None:
    person = make_person("olga@example.com")
    headers = {"Accept-Encoding": "gzip, br, zstd"}
    response = person.get("/reports/spending.csv?period=today", headers=headers)
    assert response.status_code == 200 and response.is_streamed
    assert "Content-Encoding" not in response.headers
    assert response.get_data().startswith(b"\xef\xbb\xbfCampaign,")
