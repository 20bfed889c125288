"""The one CSV writer of the app. What people download opens in spreadsheets: UTF-8 with a BOM
(so that Excel reads Cyrillic right), CRLF line ends, text cells that a spreadsheet would run as
formulas made plain text, and the body streamed a block of rows at a time."""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import quote

from flask import Response
from werkzeug.http import quote_header_value

BOM = "\ufeff"
ROWS_PER_BLOCK = 1000

# A spreadsheet runs a cell starting with one of these as a formula (OWASP: CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A cell as a spreadsheet should show it: text (a name, a gateway status, a line of an
    uploaded file: data, never a formula) that would run as a formula gets a leading ``'``;
    numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _Echo:
    """A file whose ``write`` returns what it is given: ``csv.writer.writerow`` then returns
    the row's CSV text, and nothing is buffered."""

    def write(self, text: str) -> str:
        return text


def lines(rows: Iterable[Sequence[Any]], *, safe: bool = True) -> Iterator[str]:
    """Each row as a line of CSV (CRLF); ``safe=False`` only for CSV the app reads back itself."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    for row in rows:
        yield writer.writerow([safe_cell(c) for c in row] if safe else row)


def stream(rows: Iterable[Sequence[Any]], rows_per_block: int = ROWS_PER_BLOCK) -> Iterator[str]:
    """A download's body: the BOM, then blocks of ``rows_per_block`` safe lines."""
    block = [BOM]
    for n, line in enumerate(lines(rows), 1):
        block.append(line)
        if n % rows_per_block == 0:
            yield "".join(block)
            block = []
    if block:
        yield "".join(block)


def download(rows: Iterable[Sequence[Any]], filename: str) -> Response:
    """A streamed CSV attachment of ``rows`` (the first one the header). ``rows`` is read while
    the body is sent: it must need nothing of the request (no stream_with_context, which would
    keep the request and its database session open until the client reads the last byte)."""
    return Response(
        stream(rows), mimetype="text/csv", headers={"Content-Disposition": disposition(filename)}
    )


def disposition(filename: str) -> str:
    """``attachment`` with the file's name; a name beyond ASCII (an upload's Cyrillic name)
    goes as RFC 6266 ``filename*``, with an ASCII ``filename`` for old clients."""
    plain = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    value = f"attachment; filename={quote_header_value(plain, allow_token=False)}"
    if plain != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value
