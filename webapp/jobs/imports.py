"""CSV imports: claim queued (or abandoned) contact imports and stream them into their lists."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from webapp.domain.csv_import import process_imports
from webapp.extensions import db
from webapp.models import utcnow


def run(app: Flask) -> None:
    # Uploads live under the instance folder, which web and worker share.
    process_imports(db.session, Path(app.instance_path), utcnow)
