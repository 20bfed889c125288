"""Teams are walled off, and roles hold: every route of the app, walked from ``app.url_map``.

The walk finds routes by itself, so a route added later is checked without anyone remembering to.
It cannot guess what a new route is for, though: a route must be classified in ``NEEDS`` (the
permission it requires) and each of its URL arguments mapped in ``ID_ARGUMENTS`` (the kind of
team-owned row it names), else the tests here fail and say what to add.

- Another team's owner gets 404 for every id of ours, sees none of our data on any page, and
  changes nothing of ours (``test_another_team_*``).
- Each role gets 403 exactly where its permission ends, and its pages offer only what it may use
  (``test_role_*``).
- Signed out, every page but the public ones sends to the sign-in page (``test_signed_out_*``).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from tests.helpers import PASSWORD, Person, csrf_token, team_of, without_team
from webapp.access import Permission
from webapp.domain import teams as team_service
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    Campaign,
    Contact,
    ContactImport,
    ContactList,
    ImportState,
    Invitation,
    Membership,
    MessageTemplate,
    Notification,
    NotificationKind,
    Role,
    StopListEntry,
    Team,
    User,
)

# -- what the walk must know about each route ----------------------------------------------------

# Routes for everyone, signed in or not, that show no team's data: not walked. (The sandbox
# gateway is a separate app; it is not mounted in tests.)
PUBLIC = frozenset(
    {
        "static",
        "main.healthz",
        # Ready or not, for everyone; per-team details and /metrics only with the operator's
        # token (tests/test_operations.py).
        "health.readyz",
        "health.prometheus_metrics",
        "language.choose",
        "auth.login",
        "auth.signup",
        "invitations.accept",
        "password_reset.forgot",
        "password_reset.reset",
    }
)

# The permission each walked route needs in the current team; None: signed in is enough (the
# route works on one's own account, or on teams one is a member of).
NEEDS: dict[str, Permission | None] = {
    "main.index": None,
    "auth.logout": None,
    "auth.account": None,
    "auth.end_other_session": None,
    "teams.new": None,
    "teams.switch": None,
    "teams.members": Permission.VIEW,
    "teams.leave": Permission.VIEW,
    "teams.invite": Permission.MANAGE,
    "teams.revoke": Permission.MANAGE,
    "teams.change_role": Permission.MANAGE,
    "teams.remove": Permission.MANAGE,
    "teams.settings": Permission.MANAGE,
    "teams.audit": Permission.MANAGE,
    "gateway.settings": Permission.MANAGE,
    "gateway.test": Permission.MANAGE,
    "sandbox_account.page": Permission.MANAGE,
    "sandbox_account.top_up": Permission.MANAGE,
    "campaigns.index": Permission.VIEW,
    "campaigns.show": Permission.VIEW,
    "campaigns.new": Permission.SEND,
    "campaigns.edit": Permission.SEND,
    "campaigns.preview": Permission.SEND,
    "campaigns.confirm": Permission.SEND,
    "campaigns.send": Permission.SEND,
    "campaigns.funds_now": Permission.SEND,
    "campaigns.reopen": Permission.SEND,
    "campaigns.cancel": Permission.SEND,
    "campaigns.pause": Permission.SEND,
    "campaigns.resume": Permission.SEND,
    "campaigns.export": Permission.VIEW,
    "campaigns.resend": Permission.SEND,
    "message_templates.index": Permission.VIEW,
    "message_templates.new": Permission.SEND,
    "message_templates.edit": Permission.SEND,
    "message_templates.archive": Permission.SEND,
    "message_templates.unarchive": Permission.SEND,
    "message_templates.use": Permission.SEND,
    "test_sends.panel": Permission.SEND,
    "test_sends.send": Permission.SEND,
    "auth.set_phone": None,
    # Notifications: one's own, of the teams one is in.
    "notifications.index": None,
    "notifications.follow": None,
    "notifications.read": None,
    "notifications.read_all": None,
    "notifications.settings": None,
    "drafts.delete": Permission.SEND,
    "drafts.copy": Permission.SEND,
    "senders.index": Permission.VIEW,
    "senders.refresh": Permission.MANAGE,
    "contacts.lists": Permission.VIEW,
    "contacts.list_page": Permission.VIEW,
    "contacts.import_page": Permission.VIEW,
    "contacts.invalid_rows": Permission.VIEW,
    "contacts.stop_list": Permission.VIEW,
    "contacts.create_list": Permission.SEND,
    "contacts.rename_list": Permission.SEND,
    "contacts.delete_list": Permission.SEND,
    "contacts.add_contact": Permission.SEND,
    "contacts.paste": Permission.SEND,
    "contacts.remove_contact": Permission.SEND,
    "contacts.upload": Permission.SEND,
    "contacts.preview": Permission.SEND,
    "contacts.cancel_import": Permission.SEND,
    "contacts.stop_list_add": Permission.SEND,
    "contacts.stop_list_remove": Permission.SEND,
    "teams.delete": Permission.OWN,
    "balance.index": Permission.VIEW,
    "balance.refresh": Permission.VIEW,
    "balance.warning": Permission.MANAGE,
    "reports.spending": Permission.VIEW,
    "reports.spending_csv": Permission.VIEW,
    # Two-factor sign-in: one's own account, and the team's requirement (owners).
    "two_factor.settings": None,
    "two_factor.setup": None,
    "two_factor.enrol": None,
    "two_factor.regenerate_recovery_codes": None,
    "two_factor.download_recovery_codes": None,
    "two_factor.disable": None,
    "two_factor.verify": None,
    "two_factor.team_requirement": Permission.OWN,
}

# What each role may do, as the product defines the roles (independent of webapp.access, so a
# wrong mapping there shows up here).
ROLE_MAY: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.VIEW}),
    Role.SENDER: frozenset({Permission.VIEW, Permission.SEND}),
    Role.ADMIN: frozenset({Permission.VIEW, Permission.SEND, Permission.MANAGE}),
    Role.OWNER: frozenset(Permission),
}

# Signed out, these answer themselves instead of sending to the sign-in page.
OPEN_WHEN_SIGNED_OUT = frozenset({"main.index", "auth.logout"})


@dataclass(frozen=True)
class TeamRows:
    """A team and rows of it of each kind a URL can name."""

    team_id: int
    team_name: str
    membership_id: int  # a member other than the person walking
    invitation_id: int  # an open invitation
    campaign_id: int = 0  # a draft campaign
    list_id: int = 0  # a contact list
    contact_id: int = 0  # a contact in it
    import_id: int = 0  # a finished CSV import into it, with an invalid row
    stop_entry_id: int = 0  # a phone on the stop list
    template_id: int = 0  # a message template
    notification_id: int = 0  # a notification of the team for the person walking


# URL argument -> the TeamRows field holding a row of that kind.
ID_ARGUMENTS: dict[str, str] = {
    "team_id": "team_id",
    "membership_id": "membership_id",
    "invitation_id": "invitation_id",
    "campaign_id": "campaign_id",
    "list_id": "list_id",
    "contact_id": "contact_id",
    "import_id": "import_id",
    "entry_id": "stop_entry_id",
    "template_id": "template_id",
    "notification_id": "notification_id",
}


@dataclass(frozen=True)
class Row:
    """A form value taken from the team being walked (``TeamRows`` field)."""

    field: str


# Plausible form data for POST routes (a CSRF token is always added); others post nothing else.
GATEWAY_FORM = {
    "mode": "iqsms",
    "login": "walk-login",
    "password": "walk-password",
    "url": "http://127.0.0.1:9/messages/v2/",  # nothing listens there: refused at once
}
FORM_DATA: dict[str, dict[str, Any]] = {
    "auth.account": {
        "current_password": PASSWORD,
        "new_password": PASSWORD,
        "confirm": PASSWORD,
    },
    "teams.invite": {"role": Role.VIEWER.value, "note": "invited by the walk"},
    "teams.change_role": {"role": Role.ADMIN.value},
    "teams.switch": {"team_id": Row("team_id")},
    "teams.new": {"name": "Walk Team"},
    "teams.settings": {"name": Row("team_name")},
    "teams.delete": {"confirm_name": Row("team_name")},
    "gateway.settings": GATEWAY_FORM,
    "gateway.test": GATEWAY_FORM,
    "contacts.create_list": {"name": "Walk list"},
    "contacts.rename_list": {"name": "Walk renamed"},
    "contacts.add_contact": {"phone": "+79161110000"},
    "contacts.paste": {"numbers": "+79161110001, 89161110002"},
    "contacts.stop_list_add": {"numbers": "+79161110003"},
    "message_templates.new": {"name": "Walk template", "text": "Walk text"},
    "message_templates.edit": {"name": "Walk edited", "text": "Walk text"},
    "message_templates.use": {"template_id": Row("template_id")},
    "test_sends.send": {"numbers": "+79161110004"},
    "auth.set_phone": {"phone": "+79161110005"},
    "notifications.settings": {"finished": "all", "paused": "off", "balance_low": "all"},
}

# Walked last, in this order, because they undo what other routes need (in one team) or sign out.
LAST = (
    "contacts.delete_list",
    "drafts.delete",
    "teams.change_role",
    "teams.revoke",
    "teams.remove",
    "teams.leave",
    "teams.delete",
    "auth.logout",
)

# -- the walk ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    rule: Rule
    method: str

    @property
    def endpoint(self) -> str:
        return self.rule.endpoint

    def __str__(self) -> str:
        return f"{self.method} {self.rule.rule} ({self.endpoint})"

    def carries_ids(self) -> bool:
        """Whether the request names rows of a team (in its URL or its form)."""
        form = FORM_DATA.get(self.endpoint, {})
        named = [v.field for v in form.values() if isinstance(v, Row)]
        return bool(url_arguments(self.rule)) or any(f in ID_ARGUMENTS.values() for f in named)

    def names_team_and_rows(self) -> bool:
        """Whether the URL names its team (``/teams/<id>/...``) and rows besides (in the URL
        or the form): then our team's URL with another team's row ids must be a 404 too."""
        if "team_id" not in url_arguments(self.rule):
            return False
        form = FORM_DATA.get(self.endpoint, {})
        named = [v.field for v in form.values() if isinstance(v, Row)]
        return bool(url_arguments(self.rule) - {"team_id"}) or any(
            f in ID_ARGUMENTS.values() and f != "team_id" for f in named
        )

    def path(self, rows: TeamRows) -> str:
        values = {}
        for name in sorted(url_arguments(self.rule)):
            if name not in ID_ARGUMENTS:
                pytest.fail(unknown_argument(self.rule, name))
            values[name] = getattr(rows, ID_ARGUMENTS[name])
        built = self.rule.build(values, append_unknown=False)
        assert built is not None, f"cannot build {self.rule.rule} from {values}"
        return built[1]

    def form(self, rows: TeamRows) -> dict[str, Any]:
        data = FORM_DATA.get(self.endpoint, {})
        return {k: getattr(rows, v.field) if isinstance(v, Row) else v for k, v in data.items()}


def url_arguments(rule: Rule) -> set[str]:
    """The arguments a request fills in: those of the path, not the rule's fixed defaults."""
    return set(rule.arguments) - set(rule.defaults or ())


def unknown_argument(rule: Rule, name: str) -> str:
    return (
        f"{rule.endpoint} ({rule.rule}) takes <{name}>, which the isolation walk cannot fill: "
        f"add {name!r} to ID_ARGUMENTS in tests/test_isolation.py, mapped to a TeamRows field "
        "holding a team-owned row of that kind (made in new_team and in the team A and B "
        "setup of the isolation test), so that the route is "
        "checked with another team's id and with every role."
    )


def unclassified(endpoint: str) -> str:
    return (
        f"route {endpoint} is not classified: add it to NEEDS in tests/test_isolation.py with "
        "the Permission its view requires (None if signed in is enough), or to PUBLIC if it "
        "is for signed-out visitors and shows no team's data."
    )


def needs(endpoint: str) -> Permission | None:
    if endpoint not in NEEDS:
        pytest.fail(unclassified(endpoint))
    return NEEDS[endpoint]


def walked_calls(app: Flask) -> list[Call]:
    """Every (route, method) but the public ones, those that undo things last."""
    calls = [
        Call(rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in PUBLIC
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    ]

    def order(call: Call) -> tuple[int, str, str]:
        last = LAST.index(call.endpoint) + 1 if call.endpoint in LAST else 0
        return last, call.rule.rule, call.method

    return sorted(calls, key=order)


class Walker:
    """A signed-in person's client, kept working in one team for each request."""

    def __init__(self, person: Person) -> None:
        self.person = person
        self.token = csrf_token(person.client, "/account")

    def send(self, call: Call, rows: TeamRows, *, in_team: int) -> TestResponse:
        with self.person.client.session_transaction() as session:
            session["team_id"] = in_team
        return send(self.person.client, call, rows, self.token)


def send(client: FlaskClient, call: Call, rows: TeamRows, token: str) -> TestResponse:
    path = call.path(rows)
    if call.method == "GET":
        return client.get(path)
    return client.open(
        path,
        method=call.method,
        data={"csrf_token": token, **call.form(rows)},
        headers={"X-CSRFToken": token},
    )


# -- teams and their rows ------------------------------------------------------------------------

_team_numbers = itertools.count(1)


def add_user(app: Flask, email: str) -> int:
    """A user who never signs in here (no password hashing: scrypt is slow on purpose)."""
    with app.app_context():
        user = User(email=email, password_hash="!never-signs-in")
        db.session.add(user)
        db.session.commit()
        return user.id


def add_member(app: Flask, team_id: int, user_id: int, role: Role) -> int:
    with app.app_context():
        membership = Membership(team_id=team_id, user_id=user_id, role=role.value)
        db.session.add(membership)
        db.session.commit()
        return membership.id


def new_team(
    app: Flask, owner_id: int, other_id: int, member: tuple[int, Role] | None = None
) -> TeamRows:
    """A team of ``owner_id`` with ``other_id`` as a viewer, ``member`` (user id, role) if
    given, and an open invitation."""
    with app.app_context():
        owner = db.session.get(User, owner_id)
        team = team_service.create_team(
            db.session, app.config, f"Alpha {next(_team_numbers)}", owner
        )
        if member is not None:
            db.session.add(Membership(team=team, user_id=member[0], role=member[1].value))
        other = Membership(team=team, user_id=other_id, role=Role.VIEWER.value)
        db.session.add(other)
        invitation, _ = team_service.invite(
            db.session, team, Role.SENDER, owner, "for someone new", ttl_hours=72
        )
        db.session.commit()
        campaign = Campaign(team_id=team.id, name="Walk campaign", text="walk")
        db.session.add(campaign)
        db.session.commit()
        return TeamRows(
            team.id,
            team.name,
            other.id,
            invitation.id,
            campaign.id,
            **contact_rows(team),
            **notification_row(team.id, member[0] if member else owner_id, campaign.id),
        )


def contact_rows(team: Team) -> dict[str, int]:
    """A list named after the team with a contact, a finished import, a stop-listed phone, and
    a message template."""
    contact_list = ContactList(
        team_id=team.id, name=f"{team.name} customers", field_names=["name"], contact_count=1
    )
    db.session.add(contact_list)
    db.session.flush()
    contact = Contact(
        team_id=team.id, list_id=contact_list.id, phone="79161234567", fields={"name": "Ann"}
    )
    contact_import = ContactImport(
        team_id=team.id,
        list_id=contact_list.id,
        filename="walk.csv",
        stored_path="",
        encoding="utf-8",
        delimiter=";",
        phone_column=0,
        state=ImportState.DONE,
        rows_read=2,
        added=1,
        invalid=1,
        invalid_report="3,12,not a valid number\n",
    )
    entry = StopListEntry(team_id=team.id, phone="79161234567", reason="asked")
    template = MessageTemplate(team_id=team.id, name=f"{team.name} template", text="walk")
    db.session.add_all([contact, contact_import, entry, template])
    db.session.commit()
    return {
        "list_id": contact_list.id,
        "contact_id": contact.id,
        "import_id": contact_import.id,
        "stop_entry_id": entry.id,
        "template_id": template.id,
    }


def add_contact_rows(app: Flask, team_id: int) -> dict[str, int]:
    with app.app_context():
        return contact_rows(db.session.get(Team, team_id))


def notification_row(team_id: int, user_id: int, campaign_id: int | None) -> dict[str, int]:
    """A notification for ``user_id`` that a campaign of the team finished (or, without a
    campaign, that its balance is low)."""
    kind = NotificationKind.FINISHED if campaign_id else NotificationKind.BALANCE_LOW
    event = AuditEvent(team_id=team_id, action="walk_event", details={"name": "Walk"})
    db.session.add(event)
    db.session.flush()
    notification = Notification(
        user_id=user_id,
        team_id=team_id,
        event_id=event.id,
        kind=kind,
        campaign_id=campaign_id,
    )
    db.session.add(notification)
    db.session.commit()
    return {"notification_id": notification.id}


def add_notification_row(app: Flask, team_id: int, user_id: int) -> dict[str, int]:
    with app.app_context():
        return notification_row(team_id, user_id, None)


def add_campaign(app: Flask, team_id: int) -> int:
    with app.app_context():
        campaign = Campaign(team_id=team_id, name="Secret campaign", text="walk")
        db.session.add(campaign)
        db.session.commit()
        return campaign.id


def snapshot(app: Flask, team_id: int) -> dict[str, Any] | None:
    """Everything about a team that another team's people must not be able to change."""
    with app.app_context():
        team = db.session.get(Team, team_id)
        if team is None:
            return None
        invitations = db.session.scalars(select(Invitation).where(Invitation.team_id == team_id))
        return {
            "name": team.name,
            "status_queue_name": team.status_queue_name,
            "gateway": (
                team.gateway_mode,
                team.gateway_url,
                team.gateway_login,
                bytes(team.gateway_password_encrypted or b""),
            ),
            "members": sorted((m.user.email, m.role) for m in team.memberships),
            "invitations": sorted(
                (i.id, i.role, i.note, i.accepted_at, i.revoked_at, i.expires_at)
                for i in invitations
            ),
            "campaigns": sorted(
                (c.id, c.state, c.name, c.text, c.send_at)
                for c in db.session.scalars(select(Campaign).where(Campaign.team_id == team_id))
            ),
            "contacts": (
                sorted(
                    tuple(row)
                    for row in db.session.execute(
                        select(ContactList.name, ContactList.contact_count).where(
                            ContactList.team_id == team_id
                        )
                    ).all()
                ),
                sorted(db.session.scalars(select(Contact.phone).where(Contact.team_id == team_id))),
                sorted(
                    db.session.scalars(
                        select(StopListEntry.phone).where(StopListEntry.team_id == team_id)
                    )
                ),
                sorted(
                    tuple(row)
                    for row in db.session.execute(
                        select(ContactImport.id, ContactImport.state).where(
                            ContactImport.team_id == team_id
                        )
                    ).all()
                ),
            ),
            "templates": sorted(
                (t.id, t.name, t.text, t.sender, t.flash, t.archived_at)
                for t in db.session.scalars(
                    select(MessageTemplate).where(MessageTemplate.team_id == team_id)
                )
            ),
            "notifications": sorted(
                (n.id, n.user_id, n.read_at)
                for n in db.session.scalars(
                    select(Notification).where(Notification.team_id == team_id)
                )
            ),
            "audit_events": db.session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.team_id == team_id)
            ),
        }


def assert_no_leak(response: TestResponse, secrets: list[str], what: str) -> None:
    shown = (response.get_data(as_text=True) + response.headers.get("Location", "")).lower()
    leaked = [s for s in secrets if s.lower() in shown]
    assert not leaked, f"{what} answered {response.status_code} showing {leaked}"


# -- the route tables stay complete --------------------------------------------------------------


def test_every_route_is_classified_for_the_walk(app: Flask) -> None:
    problems = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC:
            continue
        if rule.endpoint not in NEEDS:
            problems.append(unclassified(rule.endpoint))
        problems += [
            unknown_argument(rule, a) for a in sorted(url_arguments(rule) - ID_ARGUMENTS.keys())
        ]
    assert not problems, "\n".join(problems)

    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    tables = {
        "PUBLIC": PUBLIC,
        "NEEDS": NEEDS.keys(),
        "FORM_DATA": FORM_DATA.keys(),
        "OPEN_WHEN_SIGNED_OUT": OPEN_WHEN_SIGNED_OUT,
        "LAST": set(LAST),
    }
    stale = {name: sorted(set(table) - endpoints) for name, table in tables.items()}
    assert not any(stale.values()), f"no such routes any more, remove them: {stale}"
    assert not PUBLIC & NEEDS.keys()


# -- another team's people -----------------------------------------------------------------------

A_NOTE = "note-for-carol-of-alpha"
A_LOGIN = "alpha-iqsms-login"


def test_another_teams_owner_gets_404_for_our_ids_and_never_sees_our_data(
    app: Flask, make_person
) -> None:
    # Team A: Alice (owner), Amy (sender), an invitation and gateway settings made in the UI.
    alice = make_person("alice@a.example")
    team_a = team_of(app, alice)
    amy_id = add_user(app, "amy@a.example")
    amy_membership = add_member(app, team_a.id, amy_id, Role.SENDER)
    response = alice.post("/team/invitations", {"role": Role.SENDER.value, "note": A_NOTE})
    assert response.status_code == 200 and 'data-testid="invite-link"' in response.text
    response = alice.post("/team/gateway", {**GATEWAY_FORM, "login": A_LOGIN})
    assert response.status_code == 302, response.text
    with app.app_context():
        a_invitation = db.session.scalar(select(Invitation.id).where(Invitation.note == A_NOTE))
    assert a_invitation is not None
    a_rows = TeamRows(
        team_a.id,
        team_a.name,
        amy_membership,
        a_invitation,
        add_campaign(app, team_a.id),
        **add_contact_rows(app, team_a.id),
        **add_notification_row(app, team_a.id, alice.user_id),
    )
    a_before = snapshot(app, team_a.id)
    assert a_before is not None
    a_secrets = [
        team_a.name,
        team_a.status_queue_name,
        "alice@a.example",
        "amy@a.example",
        A_NOTE,
        A_LOGIN,
    ]
    # Alice's own pages do show them: the leak checks below look for something real.
    for path, shown in (
        ("/team", "amy@a.example"),
        ("/team", A_NOTE),
        ("/team/gateway", A_LOGIN),
        ("/team/gateway", team_a.status_queue_name),
    ):
        page = alice.get(path).text
        assert team_a.name in page and shown in page, f"{shown!r} not on {path}"

    # Team B: Bob (owner), Ben (viewer), an invitation.
    bob = make_person("bob@b.example")
    team_b = team_of(app, bob)
    ben_membership = add_member(app, team_b.id, add_user(app, "ben@b.example"), Role.VIEWER)
    assert bob.post("/team/invitations", {"role": "viewer", "note": "for b"}).status_code == 200
    with app.app_context():
        b_invitation = db.session.scalar(select(Invitation.id).where(Invitation.note == "for b"))
    b_rows = TeamRows(
        team_b.id,
        team_b.name,
        ben_membership,
        b_invitation,
        add_campaign(app, team_b.id),
        **add_contact_rows(app, team_b.id),
        **add_notification_row(app, team_b.id, bob.user_id),
    )
    walker = Walker(bob)
    calls = walked_calls(app)

    # Every request naming a row of team A, as team B's owner: 404, and nothing of A shown.
    named = []
    for call in calls:
        if not call.carries_ids():
            continue
        response = walker.send(call, a_rows, in_team=team_b.id)
        what = f"{call} with team A's ids, as team B's owner"
        assert response.status_code == 404, f"{what} answered {response.status_code}, not 404"
        assert_no_leak(response, a_secrets, what)
        named.append(call.endpoint)
        if call.names_team_and_rows():  # team B's own URL, with team A's rows in it
            response = walker.send(call, replace(a_rows, team_id=team_b.id), in_team=team_b.id)
            what = f"{call} in team B's URL with team A's ids"
            assert response.status_code == 404, f"{what} answered {response.status_code}"
            assert_no_leak(response, a_secrets, what)
    assert {"teams.revoke", "teams.change_role", "teams.remove", "teams.switch"} <= set(named)
    assert snapshot(app, team_a.id) == a_before

    # Control: every route on team B's own rows works for Bob, and no page shows team A's data
    # (each once: by its URL naming the team where it has one, not again by the other).
    # (The walk ends with Bob deleting team B and signing out.)
    named_too = {(c.endpoint, c.method) for c in calls if "team_id" in url_arguments(c.rule)}
    for call in calls:
        if (call.endpoint, call.method) in named_too and "team_id" not in url_arguments(call.rule):
            continue
        response = walker.send(call, b_rows, in_team=team_b.id)
        what = f"{call} on team B's own rows, as its owner"
        status = response.status_code
        assert status not in (403, 404) and status < 500, f"{what} answered {status}"
        if call.method == "GET" or call.endpoint in FORM_DATA:
            assert status < 400, f"{what} answered {status}: {response.text[:2000]}"
        assert_no_leak(response, a_secrets, what)

    assert snapshot(app, team_b.id) is None, "team B's owner deleted their team: it is gone"
    assert snapshot(app, team_a.id) == a_before, "team A changed while team B's owner walked"
    # Team A works as before for its owner; its invitation is still open.
    page = alice.get("/team").text
    assert "amy@a.example" in page and A_NOTE in page
    with app.app_context():
        invitation = db.session.get(Invitation, a_invitation)
        assert invitation is not None
        assert invitation.accepted_at is None and invitation.revoked_at is None


def test_another_team_cannot_be_switched_to(app: Flask, make_person) -> None:
    alice = make_person("alice@a.example")
    team_a = team_of(app, alice)
    bob = make_person("bob@b.example")
    team_b = team_of(app, bob)
    a_secrets = [team_a.name, team_a.status_queue_name, "alice@a.example"]

    for team_id in (str(team_a.id), "", "not-a-number", "999999"):
        response = bob.post("/teams/switch", {"team_id": team_id})
        assert response.status_code == 404, f"switch to {team_id!r}: {response.status_code}"
        assert_no_leak(response, a_secrets, f"POST /teams/switch team_id={team_id!r}")
    with bob.client.session_transaction() as session:
        assert session["team_id"] == team_b.id
    with app.app_context():
        assert db.session.get(User, bob.user_id).last_team_id == team_b.id

    def bob_still_in_team_b() -> None:
        for path in ("/", "/team", "/team/settings", "/team/gateway", "/team/audit"):
            response = bob.get(path)
            assert response.status_code == 200, f"GET {path}: {response.status_code}"
            assert f'data-testid="current-team">{team_b.name}<' in response.text, path
            assert_no_leak(response, a_secrets, f"GET {path} after switching to team A")
        assert team_b.status_queue_name in bob.get("/team/gateway").text

    bob_still_in_team_b()
    # Even a session naming team A (as a forged or stale cookie would) falls back to Bob's team.
    with bob.client.session_transaction() as session:
        session["team_id"] = team_a.id
    bob_still_in_team_b()
    with bob.client.session_transaction() as session:
        assert session["team_id"] == team_b.id


# -- roles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_role_gets_403_exactly_where_its_permission_ends(
    app: Flask, make_person, role: Role
) -> None:
    owner_id = add_user(app, "olga@alpha.example")
    other_id = add_user(app, "tom@alpha.example")
    home = new_team(app, owner_id, other_id)
    person = make_person(f"{role}@alpha.example", team=home.team_id, role=role.value)
    walker = Walker(person)

    for call in walked_calls(app):
        # A team of its own for each request: what one request changes or deletes cannot
        # change the next one's answer. (Signing out comes last.)
        rows = new_team(app, owner_id, other_id, member=(person.user_id, role))
        before = snapshot(app, rows.team_id)
        response = walker.send(call, rows, in_team=rows.team_id)
        needed = needs(call.endpoint)
        allowed = needed is None or needed in ROLE_MAY[role]
        what = f"{call} as {role} (needs {needed or 'sign-in only'})"
        status = response.status_code
        if allowed:
            assert status not in (403, 404) and status < 500, f"{what} answered {status}"
            if call.method == "GET" or call.endpoint in FORM_DATA:
                assert status < 400, f"{what} answered {status}: {response.text[:2000]}"
        else:
            assert status == 403, f"{what} answered {status}, not 403"
            assert snapshot(app, rows.team_id) == before, f"{what} changed the team anyway"


def nav_links(html: str) -> set[str]:
    """The addresses the page header links to (the menu and the team switcher)."""
    header = re.search(r'<header class="site-header">(.*?)</header>', html, re.S)
    assert header, "no site header"
    return set(re.findall(r'<a [^>]*href="([^"]+)"', header.group(1)))


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_role_pages_offer_only_what_the_role_may_use(app: Flask, make_person, role: Role) -> None:
    owner_id = add_user(app, "olga@alpha.example")
    rows = new_team(app, owner_id, add_user(app, "tom@alpha.example"))
    person = make_person(f"{role}@alpha.example", team=rows.team_id, role=role.value)
    manages = Permission.MANAGE in ROLE_MAY[role]
    owns = Permission.OWN in ROLE_MAY[role]

    home = person.get("/")
    assert home.status_code == 200
    assert f'<span class="badge">{role}</span>' in home.text
    # Links name the team: /teams/<id>/team/gateway (checked in tests of team URLs).
    assert f'href="/teams/{rows.team_id}/team"' in home.text
    home_text = without_team(home.text)
    links = nav_links(home_text)
    assert {"/", "/team", "/teams/new", "/account"} <= links
    for path, label in (
        ("/team/gateway", "Gateway"),
        ("/team/audit", "Audit log"),
        ("/team/settings", "Team settings"),
    ):
        assert (path in links) is manages, f"{role}: header link to {path}: {links}"
        assert (f">{label}</a>" in home_text) is manages, f"{role}: {label!r} link"
    assert ('href="/team/gateway"' in home_text) is manages  # the home page's own link too

    members = person.get("/team")
    assert members.status_code == 200
    members_text = without_team(members.text)
    assert "tom@alpha.example" in members_text  # every role sees who is in the team
    for shown in (
        "for someone new",
        "Invite someone",
        "/team/invitations/",
        'action="/team/members/',
    ):
        assert (shown in members_text) is manages, f"{role}: {shown!r} on the members page"

    if manages:
        settings = person.get("/team/settings")
        assert settings.status_code == 200
        assert ("Delete this team" in settings.text) is owns
        assert ('value="owner"' in members.text) is owns  # only owners make owners


# -- signed out ----------------------------------------------------------------------------------


def test_signed_out_requests_go_to_sign_in(app: Flask) -> None:
    rows = new_team(app, add_user(app, "olga@alpha.example"), add_user(app, "tom@alpha.example"))
    before = snapshot(app, rows.team_id)
    with app.app_context():
        queue = db.session.get(Team, rows.team_id).status_queue_name
    secrets = [rows.team_name, queue, "olga@alpha.example", "tom@alpha.example"]
    client = app.test_client()
    token = csrf_token(client, "/login")

    for call in walked_calls(app):
        response = send(client, call, rows, token)
        what = f"{call} signed out"
        assert_no_leak(response, secrets, what)
        status, location = response.status_code, response.headers.get("Location", "")
        if call.endpoint not in OPEN_WHEN_SIGNED_OUT:
            assert status == 302, f"{what} answered {status}, not a redirect to sign in"
            target = urlsplit(location)
            assert target.path == "/login", f"{what} redirected to {location}"
            assert parse_qs(target.query) == {"next": [call.path(rows)]}, what
        elif call.endpoint == "main.index":  # the welcome page
            assert status == 200 and 'href="/login"' in response.text, what
        elif call.endpoint == "auth.logout":
            assert (status, location) == (302, "/login"), what
        else:
            pytest.fail(f"say in this test what {call.endpoint} answers signed out")
    assert snapshot(app, rows.team_id) == before

    # The public pages show no team's data either.
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC - {"static"}:
            path = rule.build(dict.fromkeys(url_arguments(rule), "no-such-token"))
            assert path is not None
            method = "GET" if "GET" in (rule.methods or ()) else "POST"
            response = client.open(path[1], method=method)
            # A POST without its form (the language choice) is refused by CSRF: 400; /readyz
            # is 503 while no worker runs.
            expected = (200, 404, 503) if method == "GET" else (400,)
            assert response.status_code in expected, f"{method} {path[1]}: {response.status_code}"
            assert_no_leak(response, secrets, f"GET {path[1]} signed out")
