"""The home page and the liveness check."""

from flask import Blueprint, current_app, g, jsonify, make_response, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user

from webapp.access import team_page
from webapp.domain import gateways, home
from webapp.domain import messages as table
from webapp.extensions import db
from webapp.htmx import htmx_details, stop_polling
from webapp.models import utcnow

bp = Blueprint("main", __name__)


@bp.get("/")
@team_page
def index() -> ResponseReturnValue:
    """Signed out: what this is and how to start. Signed in: the current team at a glance,
    kept up to date by polling (the same template's live region) while a campaign is sending,
    paused or due, and told to stop (286) once none is."""
    if not current_user.is_authenticated:
        return render_template("main/welcome.html")
    if not g.team:
        return render_template("main/index.html")
    overview = home.overview(db.session, g.team, utcnow())
    context = {
        "overview": overview,
        "poll": {},
    }
    if overview.live:
        seen = table.version(overview.running, utcnow())
        wait = table.next_interval(
            request.args.get("seen"), seen, request.args.get("wait", type=int)
        )
        context["poll"] = {"seen": seen, "wait": wait}
    if htmx_details().wants_fragment:
        response = make_response(render_template("main/_dashboard.html", **context))
        return response if overview.live else stop_polling(response)
    gateway_url = gateways.base_url(current_app.config, g.team)
    return render_template("main/index.html", gateway_url=gateway_url, **context)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Answer a liveness probe: the process is up and serving. It asks nothing of the database
    (a database outage must not get every web process restarted); readiness, with the
    database and the workers, is /readyz (webapp/views/health.py)."""
    return jsonify(status="ok")
