"""Keyset pages: a page is the rows after (or before) a row's key, read by an index from there,
and whether another page follows is told by fetching one row more than the page holds (no
OFFSET, no COUNT), so that page 20,000 costs what page 1 costs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session


def first_rows(session: Session, query: Select, size: int) -> tuple[list[Any], bool]:
    """The first ``size`` rows of ``query`` (ordered, and already past the page's key) and
    whether more follow them."""
    rows = list(session.scalars(query.limit(size + 1)))
    return rows[:size], len(rows) > size


def next_key(rows: list[Any], more: bool) -> int | None:
    """The id the next page continues from: the last row's, when more follow."""
    return rows[-1].id if more and rows else None
