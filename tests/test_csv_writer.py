"""The one CSV writer: BOM, CRLF, cells a spreadsheet would run as formulas made plain text,
streamed in blocks; and every CSV the app offers (here: the invalid rows of an import) uses it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from flask import Flask

from tests.helpers import without_team
from webapp import csv_writer
from webapp.domain import csv_import
from webapp.extensions import db
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
    assert body.startswith("\ufeffrow,phone,reason\r\n")
    assert list(csv.reader(io.StringIO(body[1:]))) == [
        ["row", "phone", "reason"],
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
