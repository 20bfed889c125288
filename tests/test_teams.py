"""Teams: invitations, roles, the last owner, leaving, switching, deleting, the audit log."""

import re
from datetime import timedelta
from html import unescape
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from tests.helpers import PASSWORD, english_time, post_form, team_of
from webapp.extensions import db
from webapp.models import AuditEvent, Invitation, Membership, Team, utcnow


def invite_link(person, role="sender", note="") -> str:
    html = person.post("/team/invitations", {"role": role, "note": note}).get_data(as_text=True)
    start = html.index('data-testid="invite-link"')
    value = html[html.index('value="', start - 200) + 7 :]
    return value[: value.index('"')]


def members(app, team_id):
    with app.app_context():
        rows = db.session.execute(
            sa.select(Membership.user_id, Membership.role).where(Membership.team_id == team_id)
        )
        return dict(rows.all())


def test_invitation_link_lets_a_new_person_sign_up_and_join_once(app, make_person):
    ann = make_person("ann@example.com")
    team = team_of(app, ann)
    link = invite_link(ann, "admin", note="Bob from sales")
    path = "/" + link.split("/", 3)[3]
    assert path.startswith("/invite/")
    with app.app_context():  # only the hash is stored
        stored = db.session.scalar(sa.select(Invitation.token_hash))
        assert stored != path.rsplit("/", 1)[1] and len(stored) == 64

    bob = app.test_client()
    page = bob.get(path).get_data(as_text=True)
    assert f"Join {team.name}" in page and "admin" in page
    joined = post_form(bob, path, {"email": "bob@example.com", "password": PASSWORD})
    assert joined.status_code == 302
    assert "You joined" in bob.get("/").get_data(as_text=True)
    assert sorted(members(app, team.id).values()) == ["admin", "owner"]

    again = app.test_client()
    assert again.get(path).status_code == 404
    assert "does not work" in again.get(path).get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Team)) == 1


def test_an_existing_user_joins_with_the_link(app, make_person):
    ann, carl = make_person("ann@example.com"), make_person("carl@example.com")
    team = team_of(app, ann)
    path = "/" + invite_link(ann, "viewer").split("/", 3)[3]
    assert "You will join as carl@example.com" in carl.get(path).get_data(as_text=True)
    assert carl.post(path).status_code == 302
    assert members(app, team.id)[carl.user_id] == "viewer"
    assert team.name in carl.get("/").get_data(as_text=True)  # now working in Ann's team


def test_expired_and_revoked_invitations_do_not_work(app, make_person):
    ann = make_person("ann@example.com")
    first = "/" + invite_link(ann).split("/", 3)[3]
    second = "/" + invite_link(ann).split("/", 3)[3]
    with app.app_context():
        invitations = db.session.scalars(sa.select(Invitation).order_by(Invitation.id)).all()
        invitations[0].expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
        second_id = invitations[1].id
    assert app.test_client().get(first).status_code == 404
    assert ann.post(f"/team/invitations/{second_id}/revoke").status_code == 302
    assert app.test_client().get(second).status_code == 404


def test_only_owners_make_owners_and_the_last_owner_stays(app, make_person):
    ann = make_person("ann@example.com")
    team = team_of(app, ann)
    adam = make_person("adam@example.com", team=team.id, role="admin")
    sue = make_person("sue@example.com", team=team.id, role="sender")
    with app.app_context():
        ids = {
            m.user_id: m.id
            for m in db.session.scalars(sa.select(Membership).where(Membership.team_id == team.id))
        }

    # An admin manages roles below owner, but cannot make or unmake owners.
    assert (
        adam.post(f"/team/members/{ids[sue.user_id]}/role", {"role": "viewer"}).status_code == 302
    )
    refused = adam.post(
        f"/team/members/{ids[sue.user_id]}/role", {"role": "owner"}, follow_redirects=True
    )
    assert "Only an owner can" in refused.get_data(as_text=True)
    adam.post(f"/team/members/{ids[ann.user_id]}/role", {"role": "viewer"})
    assert adam.post(f"/team/members/{ids[ann.user_id]}/remove").status_code == 302
    assert members(app, team.id) == {
        ann.user_id: "owner",
        adam.user_id: "admin",
        sue.user_id: "viewer",
    }
    assert '<option value="owner"' not in adam.get("/team").get_data(as_text=True)

    # The last owner cannot be demoted, removed, or leave.
    demote = ann.post(
        f"/team/members/{ids[ann.user_id]}/role", {"role": "admin"}, follow_redirects=True
    )
    assert "A team needs an owner" in demote.get_data(as_text=True)
    leave = ann.post("/team/leave", follow_redirects=True)
    assert "The last owner cannot leave" in leave.get_data(as_text=True)
    assert members(app, team.id)[ann.user_id] == "owner"

    # With a second owner, the first may step down.
    ann.post(f"/team/members/{ids[adam.user_id]}/role", {"role": "owner"})
    ann.post(f"/team/members/{ids[ann.user_id]}/role", {"role": "admin"})
    assert members(app, team.id) == {
        ann.user_id: "admin",
        adam.user_id: "owner",
        sue.user_id: "viewer",
    }

    with app.app_context():
        changes = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "role_changed").order_by(AuditEvent.id)
        ).all()
        assert [(e.details["before"], e.details["after"]) for e in changes] == [
            ("sender", "viewer"),
            ("admin", "owner"),
            ("owner", "admin"),
        ]


def test_members_leave_and_are_removed(app, make_person):
    ann = make_person("ann@example.com")
    team = team_of(app, ann)
    bob = make_person("bob@example.com", team=team.id, role="sender")
    cat = make_person("cat@example.com", team=team.id, role="viewer")
    assert bob.post("/team/leave").status_code == 302
    assert bob.get("/team").headers["Location"] == "/teams/new"  # no team left
    with app.app_context():
        cat_membership = db.session.scalar(
            sa.select(Membership.id).where(Membership.user_id == cat.user_id)
        )
    ann.post(f"/team/members/{cat_membership}/remove")
    assert members(app, team.id) == {ann.user_id: "owner"}
    assert cat.get("/team").status_code == 302


def test_switching_teams(app, make_person):
    ann = make_person("ann@example.com")
    own = team_of(app, ann)
    assert ann.post("/teams/new", {"name": "Second"}).status_code == 302
    assert 'data-testid="current-team">Second<' in ann.get("/").get_data(as_text=True)
    ann.post("/teams/switch", {"team_id": own.id})
    assert f'data-testid="current-team">{own.name}<' in ann.get("/").get_data(as_text=True)
    assert ann.post("/teams/switch", {"team_id": "999999"}).status_code == 404
    assert ann.post("/teams/switch", {"team_id": "x"}).status_code == 404


def test_rename_and_delete_team(app, make_person):
    ann = make_person("ann@example.com")
    team = team_of(app, ann)
    adam = make_person("adam@example.com", team=team.id, role="admin")
    assert adam.post("/team/settings", {"name": "Renamed"}).status_code == 302
    assert adam.post("/team/delete", {"confirm_name": "Renamed"}).status_code == 403
    wrong = ann.post("/team/delete", {"confirm_name": "renamed"})
    assert wrong.status_code == 400 and "exactly" in wrong.get_data(as_text=True)
    assert ann.post("/team/delete", {"confirm_name": "Renamed"}).status_code == 302
    with app.app_context():
        assert db.session.get(Team, team.id) is None
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Membership)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0
    assert adam.get("/team").headers["Location"] == "/teams/new"


def test_audit_log_is_for_owners_and_admins(app, make_person):
    ann = make_person("ann@example.com")
    team = team_of(app, ann)
    viewer = make_person("vic@example.com", team=team.id, role="viewer")
    assert viewer.get("/team/audit").status_code == 403
    html = ann.get("/team/audit").get_data(as_text=True)
    assert "team created" in html and "sign in" in html and "127.0.0.1" in html
    # Times as the team reads them, like every other page.
    with app.app_context():
        event = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.team_id == team.id).order_by(AuditEvent.id)
        ).first()
        local = event.created_at.astimezone(ZoneInfo(team.timezone))
    assert "When (Moscow, UTC+3)" in html and english_time(local, seconds=True) in html


def test_an_invitation_expires_in_the_team_zone(app, make_person):
    ann = make_person("ann@example.com")
    team = team_of(app, ann)
    invite_link(ann, note="Bob")
    with app.app_context():
        expires = db.session.scalar(sa.select(Invitation.expires_at))
    html = ann.get("/team").get_data(as_text=True)
    assert english_time(expires.astimezone(ZoneInfo(team.timezone))) in html
    assert " UTC</td>" not in html


def test_an_invitation_posted_without_a_note_is_made(app, make_person):
    ann = make_person("ann@example.com")
    response = ann.post("/team/invitations", {"role": "viewer"})  # no "note" field at all
    assert response.status_code == 200
    assert 'data-testid="invite-link"' in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(Invitation.note)) == ""


def test_renaming_and_sending_settings_are_audited_once_each(app, make_person):
    ann = make_person("ann@example.com")
    assert ann.post("/team/settings", {"name": "Acme Renamed"}).status_code == 302
    sending = {
        "sending-phone_region": "RU",
        "sending-timezone": "Europe/Moscow",
        "sending-price_per_part": "3.00",
        "sending-send_rate": "10",
    }
    assert ann.post("/team/settings", sending).status_code == 302
    with app.app_context():
        events = {
            e.action: e.details
            for e in db.session.scalars(
                sa.select(AuditEvent).where(
                    AuditEvent.action.in_(["team_renamed", "sending_settings_changed"])
                )
            )
        }
    assert events["team_renamed"]["after"] == "Acme Renamed"
    assert events["sending_settings_changed"]["price_per_part"][1].startswith("3.00")


def test_audit_entries_are_put_in_words_when_shown_old_ones_too(app, make_person):
    """An event keeps its action's key and details as data, and the page says them in words
    (roles, the gateway, yes and no, a change as before → after); an event of an older
    version, whose key the page does not know, still shows, as its key."""
    ann = make_person("ann@example.com")
    team = team_of(app, ann)
    with app.app_context():
        by = db.session.scalar(sa.select(Membership).where(Membership.team_id == team.id)).user
        for action, details in [
            ("role_changed", {"member": "bob@example.com", "before": "viewer", "after": "admin"}),
            ("gateway_changed", {"mode": "sandbox", "by": "cli", "password_changed": False}),
            ("sending_settings_changed", {"send_rate": ["500", "100"]}),
            ("a_retired_action", {"old_detail": "", "kept": 3}),
        ]:
            db.session.add(AuditEvent(team_id=team.id, user=by, action=action, details=details))
        db.session.commit()
    html = ann.get("/team/audit").get_data(as_text=True)
    rows = [
        " ".join(unescape(re.sub(r"<[^>]+>", " ", row)).split())
        for row in re.findall(r'<tr data-testid="audit-event">(.*?)</tr>', html, re.S)
    ]
    what = [row.split(" ann@example.com ", 1)[1] for row in rows[:4]]
    assert what == [
        "a retired action old detail: none; kept: 3 —",
        "sending settings changed send rate: 500 → 100 —",
        "gateway changed gateway: the sandbox; by: the command line; password changed: no —",
        "role changed member: bob@example.com; before: viewer; after: admin —",
    ]


def test_audit_amounts_and_times_are_shown_as_the_reader_writes_them(app, make_person):
    """Money details as money and times in the team's zone, in the reader's format; an older
    row whose value is not one still shows as recorded."""
    ann = make_person("ann@example.com")
    team = team_of(app, ann)
    with app.app_context():
        for action, details in [
            ("balance_low", {"type": "RUB", "balance": "10210.00", "threshold": "500.00"}),
            ("sending_settings_changed", {"price_per_part": ["2.5000", "2.7500"]}),
            ("campaign_sent", {"when": "2026-12-01T20:15:35.662775+00:00", "now": False}),
            ("a_retired_action", {"when": "soon", "amount": "lots"}),
        ]:
            db.session.add(AuditEvent(team_id=team.id, action=action, details=details))
        db.session.commit()

    def shown(language: str) -> str:
        html = ann.get("/team/audit", headers={"Accept-Language": language}).text
        return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).replace("\xa0", " ").split())

    english, russian = shown("en"), shown("ru")
    assert "balance: RUB 10,210.00; threshold: RUB 500.00" in english
    assert "price per part: RUB 2.50 → RUB 2.75" in english
    assert "when: 1 Dec 2026, 23:15;" in english  # Moscow, the team's zone
    assert "when: soon; amount: lots" in english
    assert "10 210,00 ₽" in russian and "2,50 ₽ → 2,75 ₽" in russian
    assert "1 декабря 2026, 23:15" in russian
