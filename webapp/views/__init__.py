"""One blueprint per area of the product."""

from flask import Flask, render_template


def register_blueprints(app: Flask) -> None:
    from webapp.views import (
        auth,
        balance,
        campaigns,
        contacts,
        drafts,
        gateway,
        health,
        invitations,
        language,
        main,
        message_templates,
        notifications,
        password_reset,
        reports,
        sandbox_account,
        senders,
        teams,
        test_sends,
        two_factor,
    )

    areas = (
        main,
        health,
        language,
        auth,
        invitations,
        password_reset,
        teams,
        gateway,
        contacts,
        campaigns,
        drafts,
        message_templates,
        test_sends,
        senders,
        balance,
        reports,
        two_factor,
        sandbox_account,
        notifications,
    )
    for module in areas:
        app.register_blueprint(module.bp)
    for code in (400, 403, 404, 405, 429):
        app.register_error_handler(code, _error_page)


def _error_page(error):
    # Werkzeug's own descriptions are English: the page says its own words for those, and
    # shows a description only when the app gave one (translated where it was raised).
    custom = error.description if error.description != type(error).description else None
    return render_template("error.html", error=error, description=custom), error.code
