"""Uploads never confirmed: removed, with their files, UPLOAD_EXPIRE_HOURS after they came."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from webapp.domain.csv_preview import remove_stale_uploads
from webapp.extensions import db
from webapp.models import utcnow


def run(app: Flask) -> None:
    # Uploads live under the instance folder, which web and worker share.
    hours = float(app.config["UPLOAD_EXPIRE_HOURS"])
    remove_stale_uploads(db.session, Path(app.instance_path), utcnow(), hours)
    db.session.commit()
