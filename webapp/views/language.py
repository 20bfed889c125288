"""The language a person reads the dashboard in, chosen from any page's footer or the account."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from webapp import i18n
from webapp.domain import accounts
from webapp.extensions import db
from webapp.security import safe_next_url

bp = Blueprint("language", __name__)


@bp.post("/language")
def choose() -> ResponseReturnValue:
    """Show the dashboard in the posted language ("" follows the browser again), then go back
    to the page it was chosen on. Signed in, the choice is the person's, on every device;
    signed out, it is this browser's (a cookie)."""
    language = request.form.get("language", "")
    if language not in current_app.config["LANGUAGES"]:
        language = ""
    back = redirect(safe_next_url(request.form.get("next")) or url_for("main.index"))
    if current_user.is_authenticated:
        accounts.set_language(db.session, current_user, language or None)
        back.delete_cookie(i18n.COOKIE)
    elif language:
        back.set_cookie(
            i18n.COOKIE,
            language,
            max_age=i18n.COOKIE_MAX_AGE,
            secure=request.is_secure,
            httponly=True,
            samesite="Lax",
        )
    else:
        back.delete_cookie(i18n.COOKIE)
    return back
