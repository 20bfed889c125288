"""CSV that people open in spreadsheets: UTF-8 with a BOM, so that Excel reads Cyrillic right,
and text cells that a spreadsheet would run as formulas made plain text."""

from __future__ import annotations

import io

BOM = "\ufeff"

# A spreadsheet runs a cell starting with one of these as a formula (OWASP: CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """``text`` (a name, a gateway status: data, never a formula) as a spreadsheet shows it."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def drain(buffer: io.StringIO) -> str:
    """What a csv.writer wrote to ``buffer`` since the last drain (for streamed bodies)."""
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
