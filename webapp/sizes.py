"""Byte sizes as people read them, for limits and quotas: "256 MB", "1 GB", "3.4 MB"."""

from __future__ import annotations


def shown(size: int | None) -> str:
    """A byte size in KB, MB or GB: whole when it is, else to one decimal."""
    size = size or 0
    for unit, factor in (("GB", 2**30), ("MB", 2**20)):
        if size >= factor:
            value = size / factor
            return f"{value:,.0f} {unit}" if size % factor == 0 else f"{value:,.1f} {unit}"
    return f"{max(1, round(size / 2**10)):,} KB" if size else "0 KB"
