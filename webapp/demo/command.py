"""The ``flask demo`` command: make room, live the month, send now, say how to sign in."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.demo import story as stories
from webapp.demo.gateways import Clock, history_sandbox, local, move_account, real_sandbox
from webapp.demo.gateways import stamped as stamped_with
from webapp.demo.month import Month
from webapp.domain import accounts, campaigns, drafts, teams
from webapp.extensions import db
from webapp.models import Membership, Team, User

DEFAULT_EMAIL = "demo@example.com"


@click.command("demo")
@click.option("--email", default=DEFAULT_EMAIL, show_default=True, help="The demo owner's login.")
@click.option("--password", help="Their password (default: one generated, and printed).")
@click.option(
    "--language",
    type=click.Choice(sorted(stories.STORIES)),
    default="ru",
    show_default=True,
    help="The language of the contacts' names and of the texts.",
)
@click.option("--reset", is_flag=True, help="Delete the email's account and teams first.")
@with_appcontext
def demo(email: str, password: str | None, language: str, reset: bool) -> None:
    """Make a team with a month of history on the sandbox: contacts, finished campaigns,
    balance readings and notifications, and a campaign sending now. An email that has an
    account already is refused, unless --reset deletes it (and its own teams) first."""
    started = time.monotonic()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    _schema()
    password = password or secrets.token_urlsafe(12)
    story = stories.STORIES[language]
    with real_sandbox(app) as real, _one_transaction() as session:
        _make_room(session, email, reset)
        month = _live(app, session, real, story, email, password)
        _send_now(month, story)
        team, owner = month.team.name, month.owner.email
    # In the install's default language (BABEL_DEFAULT_LOCALE): a command has no browser.
    seconds = f"{time.monotonic() - started:.1f}"
    click.echo(
        _(
            "Made the demo team “%(team)s” in %(seconds)s s: a month of campaigns, contacts and "
            "balance history, one campaign scheduled for tomorrow and “%(live)s” sending now "
            "(the worker of `flask serve` sends it).",
            team=team,
            seconds=seconds,
            live=story.live.name,
        )
    )
    click.echo(
        _("Sign in as %(email)s with the password %(password)s", email=owner, password=password)
    )


def _schema() -> None:
    """Bring the database up to date, as `flask serve` does; a schema made without migrations
    (the tests' create_all) is left as it is."""
    from flask_migrate import upgrade

    tables = sa.inspect(db.engine).get_table_names()
    if "alembic_version" in tables or "teams" not in tables:
        upgrade()
        # migrations/env.py turns SQLite's foreign keys off on the connection it returns to
        # the pool: new connections get them back (and --reset's deletes their cascades).
        db.engine.dispose()


def _make_room(session: Session, email: str, reset: bool) -> None:
    """Refuse an email that has an account; with ``reset``, delete it and its teams, which
    must be its own (no one else in them)."""
    user = session.scalar(select(User).where(User.email == accounts.normalize_email(email)))
    if user is None:
        return
    if not reset:
        again = "flask demo --reset" + ("" if email == DEFAULT_EMAIL else f" --email {email}")
        raise click.ClickException(
            _(
                "%(email)s has an account already (a demo made before?): sign in with it, or "
                "run `%(again)s` to delete it and its teams and make a new demo.",
                email=user.email,
                again=again,
            )
        )
    for membership in list(user.memberships):
        people = select(sa.func.count()).where(Membership.team_id == membership.team_id)
        if session.scalar(people) > 1:
            raise click.ClickException(
                _(
                    "%(email)s is in the team “%(team)s” with other people: --reset deletes "
                    "only an account whose teams are its own. Use another --email.",
                    email=user.email,
                    team=membership.team.name,
                )
            )
        teams.delete_team(session, membership.team, user)
    session.commit()
    session.delete(session.get(User, user.id))
    session.commit()


@contextmanager
def _one_transaction() -> Iterator[Session]:
    """A session whose commits are savepoints of one transaction, committed at the end: a
    running worker (`flask serve`) sees the demo whole or not at all, and never takes part in
    the month (claiming its messages, finishing its campaigns, reading its balance now)."""
    with db.engine.connect() as connection:
        outer = connection.begin()
        if connection.dialect.name == "sqlite":
            # The driver begins a transaction only before a write, and a SAVEPOINT outside one
            # would be released as a commit: begin it here, taking the write lock now.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield session
            outer.commit()
        finally:
            session.close()


def _live(
    app: Flask, session: Session, real: object, story: stories.Story, email: str, password: str
) -> Month:
    """The month, on the private sandbox; then the team's account at the real one."""
    # The team's first day, a month ago, at 10:00 in its zone (the default one: it is new).
    clock = Clock(local(Team(timezone="Europe/Moscow"), 30, "10:00"))
    with history_sandbox(app, clock) as past, stamped_with(session, clock):
        month = Month(app, session, past, clock, story)
        month.found(email, password)
        month.live()
        move_account(past, real, month.team)
        session.commit()
    return month


def _send_now(month: Month, story: stories.Story) -> None:
    """The campaign sent now (the worker sends it live), one scheduled for tomorrow, and a
    draft begun."""
    session, team, owner = month.session, month.team, month.owner
    campaigns.commit(session, month.draft(story.live), owner)
    tomorrow = local(team, story.scheduled.day, story.scheduled.time)
    campaigns.commit(session, month.draft(story.scheduled, send_at=tomorrow), owner)
    name, text = story.draft
    draft = campaigns.new_draft(session, team, owner)
    drafts.save_draft(session, draft, {"name": name, "text": text, "sender": stories.SENDER})
    session.commit()
