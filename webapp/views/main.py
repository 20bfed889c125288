"""The home page and the health check."""

from flask import Blueprint, current_app, jsonify, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from webapp.extensions import db

bp = Blueprint("main", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    """Show what the dashboard is and which database and gateway it is wired to."""
    return render_template(
        "main/index.html",
        database_backend=db.engine.dialect.name,
        sandbox_url=current_app.config["SANDBOX_URL"],
    )


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Answer a load balancer's probe: ok once the database answers a trivial query."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        current_app.logger.exception("health check: database unavailable")
        return jsonify(status="error", detail="database unavailable"), 503
    return jsonify(status="ok")
