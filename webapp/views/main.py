"""The home page and the health check."""

from flask import Blueprint, current_app, g, jsonify, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from webapp import gateways
from webapp.extensions import db

bp = Blueprint("main", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    """Signed out: what this is and how to start. Signed in: the current team at a glance."""
    if not current_user.is_authenticated:
        return render_template("main/welcome.html")
    return render_template(
        "main/index.html",
        gateway_url=gateways.base_url(g.team) if g.team else None,
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
