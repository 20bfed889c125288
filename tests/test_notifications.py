"""Notifications: who is told when a campaign finishes or the worker pauses it, or the balance
falls below its threshold; each person's choices; once per person and event with several
workers, in the app and by mail (a real SMTP server on loopback); the header's count, the page,
and that a person sees only their own."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app

from tests.helpers import HX, make_campaign, sandbox_login, text_of, tick
from tests.mail_fixtures import free_port
from webapp.domain import audit, balance, campaigns, gateways, notification_mail, notifications
from webapp.extensions import db
from webapp.jobs import balance as balance_job
from webapp.jobs import notifications as mail_job
from webapp.models import (
    AuditEvent,
    Campaign,
    CampaignState,
    MailState,
    Membership,
    Notification,
    NotificationKind,
    Role,
    Team,
    User,
)

K = NotificationKind


# -- helpers -------------------------------------------------------------------------------------


def crew(make_person, team):
    """The team's people besides Ann (its owner): an admin, two senders, a viewer; and the
    owner of another team."""
    return {
        "admin": make_person("adam@example.com", team=team.id, role="admin"),
        "author": make_person("sue@example.com", team=team.id, role="sender"),
        "sender": make_person("sam@example.com", team=team.id, role="sender"),
        "viewer": make_person("vic@example.com", team=team.id, role="viewer"),
        "stranger": make_person("zoe@example.com"),
    }


def told(app, kind=None):
    """(email, kind) of every notification, in id order."""
    with app.app_context():
        query = (
            sa.select(User.email, Notification.kind)
            .join(User, User.id == Notification.user_id)
            .order_by(Notification.id)
        )
        if kind is not None:
            query = query.where(Notification.kind == kind)
        return [tuple(row) for row in db.session.execute(query)]


def emit(app, team_id, kind=K.FINISHED, campaign_id=None, **details):
    """An audit event of the team and its notifications, as the domain records them."""
    with app.app_context():
        details = {"name": "Promo", **details}
        event = audit.record(db.session, team_id, f"test_{kind}", **details)
        count = notifications.notify(db.session, event, kind, campaign_id)
        db.session.commit()
        return event.id, count


def set_account(sandbox, app, team, **changes):
    sandbox.control("PATCH", f"/accounts/{sandbox_login(app, team)}", json=changes)


def read_balance(app, when):
    def client(team):
        found = gateways.client_for(current_app.config, team)
        found.backoff = 0.01
        return found

    with app.app_context():
        return balance_job.snapshot_due_teams(db.session, lambda: when, client, timedelta(0))


def unread_in_header(html: str) -> str | None:
    match = re.search(r'data-testid="unread-count">(\d[\d,]*)<', html)
    return match.group(1) if match else None


def rows_on_page(html: str) -> list[str]:
    return [
        " ".join(re.sub(r"<[^>]+>", "", text).split())
        for text in re.findall(r'class="notification-text"[^>]*>(.*?)</a>', html, re.S)
    ]


def run_together(app, function, count=2):
    """``function()`` in ``count`` threads at once, each with its own app context (and so its
    own session and connection); the exceptions they raised."""
    start = threading.Barrier(count)
    errors = []

    def worker():
        try:
            with app.app_context():
                start.wait(10)
                function()
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


# -- who is told of what -------------------------------------------------------------------------


def test_a_finished_campaign_tells_its_author_and_the_teams_owners_and_admins(
    app, sandbox, team, make_person
):
    people = crew(make_person, team)
    campaign_id = make_campaign(app, team, 3, created_by_id=people["author"].user_id)
    report = tick(app)
    assert report.finished == [campaign_id]

    assert sorted(told(app)) == [
        ("adam@example.com", "finished"),
        ("ann@example.com", "finished"),
        ("sue@example.com", "finished"),
    ]  # not the other sender, not the viewer, not another team's owner
    with app.app_context():
        notes = db.session.scalars(sa.select(Notification)).all()
        assert {n.campaign_id for n in notes} == {campaign_id}
        assert {n.team_id for n in notes} == {team.id}
        assert all(n.read_at is None for n in notes)
    page = people["author"].get("/notifications").text
    assert rows_on_page(page) == ["Campaign “Test” was sent: every message has left."]
    assert unread_in_header(page) == "1"
    assert unread_in_header(people["viewer"].get("/").text) is None
    assert rows_on_page(people["stranger"].get("/notifications").text) == []


def test_an_empty_balance_pause_tells_them_and_a_persons_pause_tells_no_one(
    app, sandbox, team, make_person
):
    people = crew(make_person, team)
    set_account(sandbox, app, team, balance="0")
    campaign_id = make_campaign(app, team, 3, created_by_id=people["author"].user_id)
    report = tick(app)
    assert report.paused == [campaign_id]
    assert sorted(told(app)) == [
        ("adam@example.com", "paused"),
        ("ann@example.com", "paused"),
        ("sue@example.com", "paused"),
    ]
    page = people["admin"].get("/notifications").text
    (line,) = rows_on_page(page)
    assert line.startswith("Campaign “Test” was paused: The gateway says the balance is too low")

    # Resumed, then paused by a person: that person knows; no one is told.
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        campaigns.resume(db.session, campaign)
        campaigns.pause(db.session, campaign, db.session.get(User, people["author"].user_id))
    assert len(told(app)) == 3
    # The worker pauses it a second time after a resume: a new event, told again.
    set_account(sandbox, app, team, balance="0")
    with app.app_context():
        campaigns.resume(db.session, db.session.get(Campaign, campaign_id))
    assert tick(app).paused == [campaign_id]
    assert len(told(app, "paused")) == 6


def test_a_test_send_tells_no_one(app, sandbox, team, make_person):
    people = crew(make_person, team)
    with app.app_context():
        row = Campaign(team_id=team.id, name="Draft", state=CampaignState.DRAFT)
        db.session.add(row)
        db.session.commit()
        draft = row.id
    make_campaign(app, team, 2, created_by_id=people["author"].user_id, test_of=draft)
    assert len(tick(app).finished) == 1
    assert told(app) == []


def test_the_balance_below_its_threshold_tells_owners_and_admins_once_per_crossing(
    app, sandbox, team, make_person
):
    crew(make_person, team)
    with app.app_context():
        db.session.get(Team, team.id).low_balance_threshold = Decimal("500")
        db.session.commit()
    now = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    for minutes, amount in ((0, "1000"), (15, "499.99"), (30, "300"), (45, "800"), (60, "20")):
        set_account(sandbox, app, team, balance=amount)
        assert read_balance(app, now + timedelta(minutes=minutes)) == {}
    # Low at 15 (told), still low at 30 (not again), restored at 45, low again at 60 (told).
    assert sorted(told(app)) == [
        ("adam@example.com", "balance_low"),
        ("adam@example.com", "balance_low"),
        ("ann@example.com", "balance_low"),
        ("ann@example.com", "balance_low"),
    ]
    with app.app_context():
        first = db.session.scalars(sa.select(Notification).order_by(Notification.id)).first()
        assert notifications.headline(first) == (
            "The balance is RUB\xa0499.99, below the warning threshold of RUB\xa0500.00."
        )


def test_a_person_saving_the_threshold_and_the_worker_at_once_tell_once(app, sandbox, team):
    """Two readings raising the warning at the same moment (a person's and the worker's) raise
    it once: one audit event, one notification."""
    set_account(sandbox, app, team, balance="80")
    read_balance(app, datetime(2026, 5, 1, 9, 0, tzinfo=UTC))
    now = datetime(2026, 5, 1, 9, 5, tzinfo=UTC)

    def raise_warning():
        row = db.session.get(Team, team.id)
        row.low_balance_threshold = Decimal("100")
        balance.update_warning(db.session, row, balance.latest(db.session, team.id), now)
        db.session.commit()

    assert run_together(app, raise_warning) == []
    with app.app_context():
        lows = db.session.scalars(
            sa.select(AuditEvent.id).where(AuditEvent.action == "balance_low")
        ).all()
    assert len(lows) == 1
    assert told(app) == [("ann@example.com", "balance_low")]


# -- choices -------------------------------------------------------------------------------------


def test_each_person_turns_each_kind_off_or_to_the_app_only(app, sandbox, team, make_person):
    people = crew(make_person, team)
    admin = people["admin"]
    form = admin.get("/account").text
    assert 'data-testid="notification-settings"' in form
    # Without mail set up: on or off.
    assert "In the app and by email" not in form and "Email is not set up" in form
    saved = admin.post(
        "/account/notifications",
        {"finished": "off", "paused": "all", "balance_low": "all"},
        headers=HX,
    )
    assert saved.status_code == 200 and 'data-testid="notification-settings-saved"' in saved.text
    assert re.search(r'<option selected value="off">Off</option>', saved.text)

    current_app_config = app.config
    current_app_config.update(MAIL_SERVER="127.0.0.1", PUBLIC_URL="https://sms.example.com/")
    ann = app.test_client()
    from tests.helpers import sign_in

    sign_in(ann, "ann@example.com")
    page = ann.get("/account/notifications").text
    assert "In the app and by email" in page and "In the app only" in page
    response = ann.post(
        "/account/notifications",
        data={
            "csrf_token": re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1],
            "finished": "app",
            "paused": "off",
            "balance_low": "all",
        },
    )
    assert response.status_code == 303 and response.headers["Location"].endswith(
        "/account#notifications"
    )

    campaign_id = make_campaign(app, team, 2, created_by_id=people["author"].user_id)
    tick(app)
    emit(app, team.id, K.PAUSED, campaign_id, reason="gateway down")
    with app.app_context():
        rows = db.session.execute(
            sa.select(User.email, Notification.kind, Notification.mail_state)
            .join(User, User.id == Notification.user_id)
            .order_by(User.email, Notification.kind)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("adam@example.com", "paused", MailState.PENDING),  # finished: off
        ("ann@example.com", "finished", MailState.NONE),  # in the app only; paused: off
        ("sue@example.com", "finished", MailState.PENDING),
        ("sue@example.com", "paused", MailState.PENDING),
    ]


def test_a_choice_the_form_does_not_offer_is_refused_beside_it(app, make_person):
    ann = make_person("ann@example.com")
    response = ann.post(
        "/account/notifications", {"finished": "sms", "paused": "all", "balance_low": "off"}
    )
    assert response.status_code == 200
    assert "Not a valid choice" in text_of(response.text, "notification-settings")
    with app.app_context():
        assert notifications.choices_of(db.session, ann.user_id)[K.BALANCE_LOW] == "all"


# -- once per person and event -------------------------------------------------------------------


def test_two_workers_telling_of_one_event_tell_each_person_once(app, make_person):
    ann = make_person("ann@example.com")
    with app.app_context():
        team_id = db.session.get(User, ann.user_id).last_team_id
    make_person("adam@example.com", team=team_id, role="admin")
    event_id, count = emit(app, team_id)
    assert count == 2

    def again():
        event = db.session.get(AuditEvent, event_id)
        notifications.notify(db.session, event, K.FINISHED)
        db.session.commit()

    assert run_together(app, again, 3) == []
    assert sorted(told(app)) == [
        ("adam@example.com", "finished"),
        ("ann@example.com", "finished"),
    ]


def test_two_workers_finishing_one_campaign_tell_once(app, sandbox, team, make_person):
    crew(make_person, team)
    campaign_id = make_campaign(app, team, 2)
    with app.app_context():
        db.session.execute(
            sa.update(Campaign).where(Campaign.id == campaign_id).values(queued=0, accepted=2)
        )
        db.session.commit()
    now = datetime.now(UTC)
    assert run_together(app, lambda: campaigns.finish_done(db.session, now)) == []
    assert sorted(told(app)) == [
        ("adam@example.com", "finished"),
        ("ann@example.com", "finished"),
    ]


def configure_mail(app, port):
    app.config.update(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=port,
        MAIL_USERNAME="mailer",
        MAIL_PASSWORD="s3cret-mail",
        MAIL_TIMEOUT=5,
        PUBLIC_URL="https://sms.example.com/",
    )


def test_two_workers_mailing_at_once_mail_each_notification_once(app, make_person, mailbox):
    configure_mail(app, mailbox.port)
    ann = make_person("ann@example.com")
    with app.app_context():
        team_id = db.session.get(User, ann.user_id).last_team_id
    make_person("adam@example.com", team=team_id, role="admin")
    for _ in range(30):  # more than one claim's worth for each worker
        emit(app, team_id, K.PAUSED, reason="The gateway did not answer")

    def mail():
        mail_job.run(current_app._get_current_object())

    assert run_together(app, mail, 3) == []
    assert len(mailbox.messages) == 60
    with app.app_context():
        rows = db.session.execute(sa.select(Notification.id, Notification.user_id)).all()
        states = set(db.session.scalars(sa.select(Notification.mail_state)))
    assert states == {MailState.SENT}
    mailed = sorted(
        (m["To"], re.search(r"/notifications/(\d+)", m.as_string())[1]) for m in mailbox.messages
    )
    assert len(set(mailed)) == 60  # each notification once
    with app.app_context():
        emails = dict(db.session.execute(sa.select(User.id, User.email)).all())
    assert sorted(mailed) == sorted((emails[user_id], str(nid)) for nid, user_id in rows)
    message = mailbox.messages[0]
    assert message["Subject"].startswith("Ann Team: Campaign “Promo” was paused")
    body = mailbox.body(0)
    assert "https://sms.example.com/notifications/" in body  # PUBLIC_URL, no Host header
    assert "https://sms.example.com/account/notifications" in body
    # Nothing is left to mail: a later run sends nothing more.
    with app.app_context():
        mail_job.run(app)
    assert len(mailbox.messages) == 60


def test_a_mailed_link_opens_the_campaign_in_its_team_and_marks_it_read(
    app, sandbox, team, make_person, mailbox
):
    configure_mail(app, mailbox.port)
    people = crew(make_person, team)
    author = people["author"]
    # The author works in a team of their own when the mail comes.
    with app.app_context():
        user = db.session.get(User, author.user_id)
        from webapp.domain import teams as team_service

        own = team_service.create_team(db.session, app.config, "Sue's own", user)
        db.session.commit()
        own_id = own.id
    author.post("/teams/switch", {"team_id": own_id})
    campaign_id = make_campaign(app, team, 1, created_by_id=author.user_id)
    tick(app)
    with app.app_context():
        mail_job.run(app)
    (mine,) = [m for m in mailbox.messages if m["To"] == "sue@example.com"]
    link = re.search(r"https://sms\.example\.com(\S+)", mine.get_payload(decode=True).decode())[1]
    response = author.get(link)
    assert response.status_code == 302
    assert re.search(rf"/campaigns/{campaign_id}(\?|$)", response.headers["Location"])
    page = author.get(response.headers["Location"])
    assert page.status_code == 200 and "Test" in page.text
    assert f'data-testid="current-team">{team.name}<' in page.text
    with app.app_context():
        note = db.session.scalar(
            sa.select(Notification).where(Notification.user_id == author.user_id)
        )
        assert note.read_at is not None


def test_a_refused_mail_is_retried_later_then_given_up(app, make_person):
    configure_mail(app, free_port())  # nothing listens there
    ann = make_person("ann@example.com")
    with app.app_context():
        team_id = db.session.get(User, ann.user_id).last_team_id
    emit(app, team_id)
    with app.app_context():
        clock = [datetime.now(UTC)]
        for attempt in range(1, notification_mail.MAIL_ATTEMPTS + 1):
            report = notification_mail.mail_due(
                db.session, app.config, lambda: clock[0], mail_job.compose, mail_job.send_mail
            )
            note = db.session.scalar(sa.select(Notification))
            assert note.mail_attempts == attempt
            if attempt < notification_mail.MAIL_ATTEMPTS:
                assert report.retried == [note.id] and note.mail_state == MailState.PENDING
                assert note.mail_next_at > clock[0]  # waits before the next try
                # Not yet due: the next run leaves it.
                again = notification_mail.mail_due(
                    db.session, app.config, lambda: clock[0], mail_job.compose, mail_job.send_mail
                )
                assert again.retried == [] and again.sent == []
                clock[0] = note.mail_next_at
            else:
                assert report.failed == [note.id] and note.mail_state == MailState.FAILED
        assert "did not take the message" in note.mail_error


def test_a_claim_left_by_a_stopped_worker_is_never_mailed_again(app, make_person, mailbox):
    configure_mail(app, mailbox.port)
    ann = make_person("ann@example.com")
    with app.app_context():
        team_id = db.session.get(User, ann.user_id).last_team_id
    emit(app, team_id)
    with app.app_context():
        long_ago = datetime.now(UTC) - timedelta(hours=1)
        assert len(notification_mail.claim_mail(db.session, long_ago)) == 1  # then the worker died
        mail_job.run(app)
        note = db.session.scalar(sa.select(Notification))
        assert note.mail_state == MailState.FAILED
    assert mailbox.messages == []


def test_without_mail_notifications_stay_in_the_app(app, make_person, mailbox):
    ann = make_person("ann@example.com")
    with app.app_context():
        team_id = db.session.get(User, ann.user_id).last_team_id
    emit(app, team_id)
    with app.app_context():
        mail_job.run(app)  # mail not set up
        assert db.session.scalar(sa.select(Notification.mail_state)) == MailState.NONE
    configure_mail(app, mailbox.port)
    with app.app_context():
        mail_job.run(app)  # set up later: the old one is not mailed days late
    assert mailbox.messages == []


# -- in the app ----------------------------------------------------------------------------------


def test_the_header_count_the_page_and_marking_read(app, make_person):
    ann = make_person("ann@example.com")
    with app.app_context():
        team_id = db.session.get(User, ann.user_id).last_team_id
    assert unread_in_header(ann.get("/").text) is None
    assert 'data-testid="no-notifications"' in ann.get("/notifications").text
    ids = [emit(app, team_id, K.FINISHED, name=f"Wave {i}")[0] for i in range(55)]
    assert len(ids) == 55
    home = ann.get("/").text
    assert unread_in_header(home) == "55"
    assert 'href="/notifications"' in home

    first = ann.get("/notifications").text
    lines = rows_on_page(first)
    assert len(lines) == notifications.PAGE_SIZE
    assert lines[0] == "Campaign “Wave 54” was sent: every message has left."  # newest first
    older = re.search(r'href="(/notifications\?before=\d+)"[^>]*data-testid="older"', first)
    second = ann.get(older[1].replace("&amp;", "&")).text
    sent = "was sent: every message has left."
    assert rows_on_page(second) == [f"Campaign “Wave {i}” {sent}" for i in range(4, -1, -1)]
    assert 'data-testid="older"' not in second

    with app.app_context():
        newest = db.session.scalar(sa.select(Notification.id).order_by(Notification.id.desc()))
    row = ann.post(f"/notifications/{newest}/read", headers=HX)
    assert row.status_code == 200
    assert 'class="notification"' in row.text and "Mark read" not in row.text.split("<a class")[0]
    assert 'hx-swap-oob="true"' in row.text and unread_in_header(row.text) == "54"
    assert unread_in_header(ann.get("/").text) == "54"

    done = ann.post("/notifications/read")
    assert done.status_code == 303
    page = ann.get("/notifications").text
    assert "54 notifications marked read." in page
    assert unread_in_header(page) is None and "unread</strong>" not in page


def test_a_person_keeps_a_bounded_number(app, make_person):
    ann = make_person("ann@example.com")
    with app.app_context():
        team_id = db.session.get(User, ann.user_id).last_team_id
    for i in range(notifications.KEPT_PER_PERSON + 5):
        emit(app, team_id, name=f"Wave {i}")
    with app.app_context():
        kept = db.session.scalars(sa.select(Notification).order_by(Notification.id)).all()
        assert len(kept) == notifications.KEPT_PER_PERSON
        assert kept[0].event.details["name"] == "Wave 5"  # the oldest five went


def test_a_person_sees_and_opens_only_their_own(app, make_person):
    ann = make_person("ann@example.com")
    bob = make_person("bob@example.com")
    with app.app_context():
        ann_team = db.session.get(User, ann.user_id).last_team_id
    emit(app, ann_team, name="Ann's secret campaign")
    with app.app_context():
        note_id = db.session.scalar(sa.select(Notification.id))
    assert "Ann&#39;s secret campaign" in ann.get("/notifications").text or "Ann's secret" in (
        ann.get("/notifications").text
    )
    for response in (
        bob.get(f"/notifications/{note_id}"),
        bob.post(f"/notifications/{note_id}/read"),
    ):
        assert response.status_code == 404
    assert "secret" not in bob.get("/notifications").text
    bob.post("/notifications/read")  # marks only Bob's
    with app.app_context():
        assert db.session.get(Notification, note_id).read_at is None

    # Someone who leaves the team no longer sees its notifications (nor counts them).
    carl = make_person("carl@example.com", team=ann_team, role="admin")
    emit(app, ann_team, name="After Carl joined")
    assert unread_in_header(carl.get("/notifications").text) == "1"
    with app.app_context():
        db.session.execute(sa.delete(Membership).where(Membership.user_id == carl.user_id))
        db.session.commit()
        carl_note = db.session.scalar(
            sa.select(Notification.id).where(Notification.user_id == carl.user_id)
        )
    page = carl.get("/notifications").text
    assert "After Carl joined" not in page and unread_in_header(page) is None
    assert carl.get(f"/notifications/{carl_note}").status_code == 404


def test_a_team_that_requires_two_factor_keeps_its_news_from_members_not_enrolled(app, make_person):
    """Its pages are closed to a member who has not turned two-factor sign-in on: so are its
    notifications, on the page, in the count and by their links."""
    ann = make_person("ann@example.com")
    dana = make_person("dana@example.com")  # works in a team of her own
    with app.app_context():
        guarded = db.session.get(User, ann.user_id).last_team_id
        db.session.add(Membership(team_id=guarded, user_id=dana.user_id, role=Role.ADMIN))
        db.session.get(Team, guarded).two_factor_required = True
        db.session.commit()
    emit(app, guarded, name="Guarded campaign")
    with app.app_context():
        note_id = db.session.scalar(
            sa.select(Notification.id).where(Notification.user_id == dana.user_id)
        )
    assert note_id is not None  # she is told; she sees it once enrolled
    page = dana.get("/notifications").text
    assert "Guarded campaign" not in page and unread_in_header(page) is None
    assert dana.get(f"/notifications/{note_id}").status_code == 404

    # Once the team no longer requires it (or once she turns it on), she sees it.
    with app.app_context():
        db.session.get(Team, guarded).two_factor_required = False
        db.session.commit()
    page = dana.get("/notifications").text
    assert "Guarded campaign" in page and unread_in_header(page) == "1"


def test_no_mail_goes_to_someone_who_may_no_longer_read_it(app, make_person, mailbox):
    """Mailed only while its page would open: not after the person left the team, nor while
    the team requires two-factor sign-in they have not turned on."""
    configure_mail(app, mailbox.port)
    ann = make_person("ann@example.com")
    with app.app_context():
        team_id = db.session.get(User, ann.user_id).last_team_id
    carl = make_person("carl@example.com", team=team_id, role="admin")
    dana = make_person("dana@example.com", team=team_id, role="admin")
    emit(app, team_id, name="Left behind")
    with app.app_context():
        db.session.execute(sa.delete(Membership).where(Membership.user_id == carl.user_id))
        db.session.commit()
    with app.app_context():
        db.session.get(Team, team_id).two_factor_required = True
        db.session.commit()
        mail_job.run(app)
        states = dict(
            db.session.execute(sa.select(Notification.user_id, Notification.mail_state)).all()
        )
    assert [m["To"] for m in mailbox.messages] == []
    assert states[carl.user_id] == MailState.NONE and states[dana.user_id] == MailState.NONE
    with app.app_context():
        db.session.get(Team, team_id).two_factor_required = False
        db.session.commit()
    emit(app, team_id, name="Open again")
    with app.app_context():
        mail_job.run(app)
    assert sorted(m["To"] for m in mailbox.messages) == ["ann@example.com", "dana@example.com"]
