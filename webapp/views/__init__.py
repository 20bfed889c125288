"""One blueprint per area of the product."""

from flask import Flask, render_template


def register_blueprints(app: Flask) -> None:
    from webapp.views import auth, campaigns, contacts, gateway, invitations, main, senders, teams

    for module in (main, auth, invitations, teams, gateway, contacts, campaigns, senders):
        app.register_blueprint(module.bp)
    for code in (400, 403, 404, 429):
        app.register_error_handler(code, _error_page)


def _error_page(error):
    return render_template("error.html", error=error), error.code
