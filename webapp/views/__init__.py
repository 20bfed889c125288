"""One blueprint per area of the product."""

from decimal import Decimal

from flask import Flask, render_template


def register_blueprints(app: Flask) -> None:
    from webapp.views import (
        auth,
        balance,
        campaigns,
        contacts,
        gateway,
        invitations,
        main,
        reports,
        senders,
        teams,
    )

    areas = (
        main,
        auth,
        invitations,
        teams,
        gateway,
        contacts,
        campaigns,
        senders,
        balance,
        reports,
    )
    for module in areas:
        app.register_blueprint(module.bp)
    app.add_template_filter(money)
    app.add_template_filter(count)
    for code in (400, 403, 404, 429):
        app.register_error_handler(code, _error_page)


def money(value: Decimal | int | None) -> str:
    """An amount to the kopeck with thousands separated: ``1,234.50`` ("—" for none)."""
    return "—" if value is None else f"{Decimal(value):,.2f}"


def count(value: int | None) -> str:
    """A whole number with thousands separated: ``12,345``."""
    return "—" if value is None else f"{value:,}"


def _error_page(error):
    return render_template("error.html", error=error), error.code
