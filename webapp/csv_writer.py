"""The one CSV writer of the app. What people download opens in their spreadsheet as it is:
the separator and decimal mark that Excel expects in the person's language (``;`` and ``,`` in
Russian, ``,`` and ``.`` in English) or plain CSV for programs, UTF-8 with a BOM for Excel (so
that it reads Cyrillic right), CRLF line ends, dates and times that Excel reads as such, text
cells that a spreadsheet would run as formulas made plain text, and the body streamed a block
of rows at a time.

The Excel formats are read by people: a download writes its values as its page shows them
(``CsvFormat.in_words``: a message's state as its badge labels it, a gateway status in words
with the raw status beside it, the team's zone by its city and offset in the headers). The
plain format is read by programs: it keeps the machine values (``delivered``, the raw
gateway status, ``Europe/Moscow``), the same in every language but for the headers."""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, current_app, request, url_for
from flask_babel import force_locale, get_locale
from flask_babel import lazy_gettext as _l
from werkzeug.http import quote_header_value

from webapp import timezones

BOM = "\ufeff"
ROWS_PER_BLOCK = 1000

# A spreadsheet runs a cell starting with one of these as a formula (OWASP: CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# The query argument of a download that names its format (a key of FORMATS).
FORMAT_ARG = "format"
# Excel reads this as a date and time whatever its language (it knows ISO dates everywhere,
# while 01.12.2026 is a date only to a Russian Excel and 12/01/2026 only to an American one),
# and it sorts as text too. The team's zone, without its offset: the header names the zone.
EXCEL_TIME = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class CsvFormat:
    """How a file is written for the program that opens it."""

    key: str
    label: Any  # a lazy string: shown in the person's language
    delimiter: str
    decimal_mark: str
    bom: bool  # Excel needs it to read UTF-8; programs are better without it
    excel_times: bool  # EXCEL_TIME in the zone; else ISO 8601 with the offset
    in_words: bool  # values as pages show them (for people); else machine values


EXCEL_RU = CsvFormat("excel-ru", _l("Excel (Russian)"), ";", ",", True, True, in_words=True)
EXCEL_EN = CsvFormat("excel-en", _l("Excel (English)"), ",", ".", True, True, in_words=True)
PLAIN = CsvFormat("plain", _l("Plain CSV (UTF-8, comma)"), ",", ".", False, False, in_words=False)
FORMATS = {f.key: f for f in (EXCEL_RU, EXCEL_EN, PLAIN)}
# The format a page in each language offers first: the Excel its readers have.
BY_LANGUAGE = {"ru": EXCEL_RU, "en": EXCEL_EN}


class Number(str):
    """A number as the app writes it for machines (``1234.50``, ``-3.5``: :func:`plain_money`
    and the like), written with the file's decimal mark and never taken for a formula."""

    __slots__ = ()


def default_format() -> CsvFormat:
    """The format for the language of the page (English's outside a request)."""
    locale = get_locale()
    return BY_LANGUAGE.get(locale.language if locale else "", EXCEL_EN)


def chosen_format() -> CsvFormat:
    """The format the request's ``?format=`` names, else the page language's."""
    return FORMATS.get(request.args.get(FORMAT_ARG, "")) or default_format()


def download_links(endpoint: str, **values: Any) -> list[tuple[CsvFormat, str]]:
    """Each format with the address of ``endpoint``'s download in it, the page language's
    first: what a download link offers (templates/_downloads.html)."""
    first = default_format()
    formats = [first, *(f for f in FORMATS.values() if f is not first)]
    return [(f, url_for(endpoint, **values, **{FORMAT_ARG: f.key})) for f in formats]


def safe_cell(value: Any) -> Any:
    """A cell as a spreadsheet should show it: text (a name, a gateway status, a line of an
    uploaded file: data, never a formula) that would run as a formula gets a leading ``'``;
    numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def cell(value: Any, fmt: CsvFormat = EXCEL_EN, zone: tzinfo = UTC) -> Any:
    """``value`` as ``fmt`` writes it: numbers with its decimal mark and no thousands
    separators, a time (aware, UTC from the database) in ``zone``, a day as ISO, text safe."""
    if isinstance(value, Number):
        return str(value).replace(".", fmt.decimal_mark)
    if isinstance(value, float | Decimal):
        return f"{Decimal(str(value)):f}".replace(".", fmt.decimal_mark)
    if isinstance(value, datetime):
        if fmt.excel_times:
            return value.astimezone(zone).strftime(EXCEL_TIME)
        return timezones.iso_in_zone(value, zone)  # type: ignore[arg-type]
    if isinstance(value, date):
        return value.isoformat()
    return safe_cell(value)


class _Echo:
    """A file whose ``write`` returns what it is given: ``csv.writer.writerow`` then returns
    the row's CSV text, and nothing is buffered."""

    def write(self, text: str) -> str:
        return text


def lines(
    rows: Iterable[Sequence[Any]],
    *,
    safe: bool = True,
    fmt: CsvFormat = PLAIN,
    zone: tzinfo = UTC,
) -> Iterator[str]:
    """Each row as a line of CSV (CRLF); ``safe=False`` (cells written as they are) only for
    CSV the app reads back itself."""
    writer = csv.writer(_Echo(), delimiter=fmt.delimiter, lineterminator="\r\n")
    for row in rows:
        yield writer.writerow([cell(c, fmt, zone) for c in row] if safe else row)


def stream(
    rows: Iterable[Sequence[Any]],
    rows_per_block: int = ROWS_PER_BLOCK,
    *,
    fmt: CsvFormat = EXCEL_EN,
    zone: tzinfo = UTC,
) -> Iterator[str]:
    """A download's body: the BOM (for Excel), then blocks of ``rows_per_block`` safe lines."""
    block = [BOM] if fmt.bom else []
    for n, line in enumerate(lines(rows, fmt=fmt, zone=zone), 1):
        block.append(line)
        if n % rows_per_block == 0:
            yield "".join(block)
            block = []
    if block:
        yield "".join(block)


def download(rows: Iterable[Sequence[Any]], filename: str, *, zone: tzinfo = UTC) -> Response:
    """A streamed CSV attachment of ``rows`` (the first one the header), in the format the
    request chose, its times in ``zone``. ``rows`` is read while the body is sent, after the
    request has ended: it must need nothing of the request (no stream_with_context, which
    would keep the request and its database session open until the client reads the last
    byte); a text it translates is translated in the request's language."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    language = str(get_locale() or app.config["BABEL_DEFAULT_LOCALE"])
    body = stream(rows, fmt=chosen_format(), zone=zone)
    return Response(
        _in_language(app, language, body),
        mimetype="text/csv",
        headers={"Content-Disposition": disposition(filename)},
    )


def _in_language(app: Flask, language: str, body: Iterator[str]) -> Iterator[str]:
    # An app context of its own for each block read (a database session if the rows need one,
    # removed before the block is sent), speaking the reader's language: an import's reasons
    # are translated as they are written. None is held while the client reads, so a client
    # that stops reading, or a body closed unread, leaves no context open anywhere.
    while True:
        with app.app_context(), force_locale(language):
            block = next(body, None)
        if block is None:
            return
        yield block


def disposition(filename: str) -> str:
    """``attachment`` with the file's name; a name beyond ASCII (an upload's Cyrillic name)
    goes as RFC 6266 ``filename*``, with an ASCII ``filename`` for old clients."""
    plain = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    value = f"attachment; filename={quote_header_value(plain, allow_token=False)}"
    if plain != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


def init_app(app: Flask) -> None:
    """Templates offer every format beside a CSV download link (``csv_download_links``)."""
    app.jinja_env.globals["csv_download_links"] = download_links
