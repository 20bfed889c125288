"""Lists whose field statistics are not known (made before there were any, or written by other
means) get them counted again, for up to BUDGET seconds a run, so the composer's check stays
quick for them (until then it reads their contacts row by row)."""

from __future__ import annotations

import time

from flask import Flask

from webapp.domain import field_stats
from webapp.extensions import db

# Seconds of counting a run (one a minute) may take; a list is always finished once begun.
BUDGET = 20.0


def run(app: Flask, *, budget: float = BUDGET) -> None:
    began = time.monotonic()
    try:
        while time.monotonic() - began < budget:
            list_ids = field_stats.unknown_lists(db.session, limit=1)
            if not list_ids:
                return
            field_stats.recompute(db.session, list_ids[0])
            db.session.commit()
    finally:
        db.session.remove()
