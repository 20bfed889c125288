"""Lists whose field statistics are not known (made before there were any, or written by other
means) get them counted again, one list per run, so the composer's check stays quick for them."""

from __future__ import annotations

from flask import Flask

from webapp.domain import field_stats
from webapp.extensions import db


def run(app: Flask) -> None:
    for list_id in field_stats.unknown_lists(db.session, limit=1):
        field_stats.recompute(db.session, list_id)
        db.session.commit()
