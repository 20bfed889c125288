"""Byte sizes as people read them, for limits and quotas: "256 MB", "1 GB", "3.4 MB" (in
Russian "256 МБ", "3,4 МБ"), in the reader's language."""

from __future__ import annotations

from flask_babel import format_decimal
from flask_babel import gettext as _


def shown(size: int | None) -> str:
    """A byte size in KB, MB or GB: whole when it is, else to one decimal."""
    size = size or 0
    for unit, factor in (("GB", 2**30), ("MB", 2**20)):
        if size >= factor:
            pattern = "#,##0" if size % factor == 0 else "#,##0.0"
            return _unit(unit, format_decimal(size / factor, format=pattern))
    return _unit("KB", format_decimal(max(1, round(size / 2**10)) if size else 0))


def _unit(unit: str, size: str) -> str:
    # One msgid a unit, so a translator writes the unit's own abbreviation (КБ, МБ, ГБ).
    return {
        "GB": _("%(size)s GB", size=size),
        "MB": _("%(size)s MB", size=size),
        "KB": _("%(size)s KB", size=size),
    }[unit]
