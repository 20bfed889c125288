"""The month that was, lived step by step against the private sandbox on the demo's clock: each
step is what a person or the worker does, through the functions they use."""

from __future__ import annotations

import io
import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from webapp.demo import story as stories
from webapp.demo.gateways import Clock, local, lose_next_reply
from webapp.demo.story import CampaignSpec, ListSpec, Story
from webapp.domain import (
    accounts,
    balance,
    campaigns,
    contacts,
    csv_import,
    csv_preview,
    drafts,
    gateways,
    message_templates,
    notifications,
    send_calls,
    senders,
    sending,
    statuses,
    teams,
)
from webapp.domain.sandbox_account import top_up
from webapp.models import (
    Campaign,
    Contact,
    Delivery,
    Notification,
    NotificationKind,
    StopListEntry,
    Team,
    User,
    utcnow,
)
from webapp.phones import normalize_phone


@contextmanager
def quiet(log: logging.Logger, when: bool) -> Iterator[None]:
    """``log`` says nothing below an error while the block runs, ``when`` so."""
    level = log.level
    if when:
        log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


READING_EVERY = timedelta(hours=6)  # the month's balance readings (the worker's: 15 minutes)
DRAIN_EVERY = 15  # seconds between status-queue reads, as the worker's tick
BACK_OFF = 5  # seconds a campaign waits after a failed call (webapp/domain/send_calls.py)
LAST_STATUSES = 40  # queue reads after a campaign's last call, at most: ten minutes


class Month:
    """The team's first month: its people, gateway, lists, campaigns and balance, on the
    private sandbox reached with the settings ``past``."""

    def __init__(self, app: Flask, session: Session, past: Any, clock: Clock, story: Story):
        self.app, self.session, self.past, self.clock, self.story = app, session, past, clock, story
        self.interval = timedelta(seconds=float(app.config["BALANCE_INTERVAL"]))
        self.lists: dict[str, int] = {}
        self.team: Team  # from found() on
        self.owner: User

    def found(self, email: str, password: str) -> None:
        """The owner signs up; the team gets its sandbox account, sender names, the warning
        and its send rate, as on its first day."""
        session, past, clock = self.session, self.past, self.clock
        owner = accounts.create_user(session, email, password)
        team = teams.create_team(session, past, self.story.team, owner)
        self.team, self.owner = team, owner
        settings = {name: getattr(team, name) for name in teams.SENDING_SETTINGS}
        settings["send_rate"] = stories.SEND_RATE
        teams.change_sending_settings(session, team, settings, owner)
        # The month's news stays in the app: mailing it now, days late, would mislead.
        notifications.set_choices(session, owner, dict.fromkeys(NotificationKind, Delivery.APP))
        clock.tick(40)
        senders.sync_now(session, past, team, 5.0)
        self.reading()
        balance.set_warning(session, team, stories.LOW_BALANCE, "RUB", owner, clock())

    def live(self) -> None:
        """Lists and templates on the first day, then the month's events in order, with the
        worker's balance readings between them, up to a minute ago."""
        self.make_lists()
        for name, text in self.story.templates:
            self.clock.tick(300)
            values = message_templates.Values(name, text, stories.SENDER)
            message_templates.create(self.session, self.team, self.owner, values)
        self.session.commit()
        steps: list[tuple[datetime, Any]] = [
            (local(self.team, *self.story.top_up), self.top_up),
            (local(self.team, *self.story.stop_list), self.stop_list),
        ]
        steps += [(local(self.team, c.day, c.time), c) for c in self.story.past]
        for when, step in sorted(steps, key=lambda s: s[0]):
            self.readings(until=when)
            if isinstance(step, CampaignSpec):
                self.send(step)
            else:
                step()
        self.readings(until=utcnow() - timedelta(minutes=1))
        self.reading()
        self.read_notifications()
        notifications.set_choices(self.session, self.owner, {})

    # -- the balance ---------------------------------------------------------------------------

    def reading(self) -> None:
        with gateways.client_for(self.past, self.team) as client:
            balance.take_snapshot(self.session, self.team, client, self.clock(), self.interval)

    def readings(self, until: datetime) -> None:
        """The worker's balance readings up to ``until``, the clock then at ``until``."""
        with gateways.client_for(self.past, self.team) as client:
            while self.clock() + READING_EVERY < until:
                self.clock.tick(READING_EVERY.total_seconds())
                balance.take_snapshot(self.session, self.team, client, self.clock(), self.interval)
        self.clock.go(until)

    def top_up(self) -> None:
        """The owner tops up the sandbox account (Team → Gateway → Sandbox account)."""
        top_up(self.session, self.past, self.team, self.owner, stories.TOP_UP)
        self.session.commit()
        self.clock.tick(60)
        self.reading()

    # -- contacts ------------------------------------------------------------------------------

    def make_lists(self) -> None:
        """Two lists uploaded as CSV files and imported by the worker, one typed by hand."""
        rng, story = random.Random(2026), self.story
        loyal, new, staff = story.lists
        loyal_rows = stories.contacts(story, loyal, rng)
        returning = 20  # new guests who had joined the loyalty programme already
        new_rows = rng.sample(loyal_rows, returning) + stories.contacts(story, new, rng)[returning:]
        for spec, rows in ((loyal, loyal_rows), (new, new_rows)):
            self.clock.tick(600)
            self.lists[spec.key] = self.upload(spec, stories.csv_file(story, rows, rng))
        self.clock.tick(900)
        typed = contacts.create_list(self.session, self.team, staff.name, self.owner)
        self.session.flush()
        region = self.team.phone_region
        rows = [
            (normalize_phone(raw, region).phone, {story.first_name: name, story.city: city})
            for raw, name, city in stories.contacts(story, staff, rng)
        ]
        contacts.add_phones(self.session, typed, [row for row in rows if row[0]], self.clock())
        contacts.merge_field_names(typed, [story.first_name, story.city])
        self.session.commit()
        self.lists[staff.key] = typed.id

    def upload(self, spec: ListSpec, data: bytes) -> int:
        """A CSV file uploaded, previewed and started, then imported by the worker: the new
        list's id."""
        session, root = self.session, Path(self.app.instance_path)
        contact_list = contacts.create_list(session, self.team, spec.name, self.owner)
        session.flush()
        upload = csv_preview.receive_upload(
            session, contact_list, self.owner, io.BytesIO(data), spec.filename, root
        )
        sniffed = csv_preview.sniff(root / upload.stored_path)
        csv_preview.start_import(session, upload, sniffed, sniffed.phone_column, self.owner)
        session.commit()
        self.clock.tick(30)
        csv_import.claim_import(session, upload.id, self.clock())
        csv_import.run_import(session, upload.id, root, self.clock)
        return contact_list.id

    def stop_list(self) -> None:
        """Three people of the loyalty programme asked for no more offers."""
        session = self.session
        phones = select(Contact.phone).where(Contact.list_id == self.lists["loyal"])
        every = session.scalars(phones.order_by(Contact.id)).all()
        asked = [every[57], every[201], every[388]]
        reason = self.story.stop_reason
        contacts.add_to_stop_list(session, self.team, "\n".join(asked), reason, self.owner)
        # Its bulk insert stamps the wall clock.
        stamp = update(StopListEntry).where(StopListEntry.team_id == self.team.id)
        session.execute(stamp.values(created_at=self.clock()))
        session.commit()

    # -- campaigns -----------------------------------------------------------------------------

    def draft(self, spec: CampaignSpec, **values: Any) -> Campaign:
        """A draft as the composer saves it."""
        draft = campaigns.new_draft(self.session, self.team, self.owner)
        values = {
            "name": spec.name,
            "text": spec.text,
            "sender": stories.SENDER,
            "list_ids": [self.lists[key] for key in spec.lists],
            **values,
        }
        drafts.save_draft(self.session, draft, values)
        self.session.commit()
        return draft

    def send(self, spec: CampaignSpec) -> None:
        """A campaign composed and sent, sent out by the worker at the team's rate, finished,
        and followed to its last status; the worker's balance reading after it."""
        session, clock = self.session, self.clock
        draft = self.draft(spec)
        clock.tick(120)  # checking the panel, confirming
        campaigns.commit(session, draft, self.owner, now=clock())
        clock.tick(1)
        # start_due and finish_done move every team's campaigns: here only this one moves.
        started = {"started_at": clock()}
        campaigns.transition(session, draft.id, campaigns.START, now=clock(), values=started)
        session.commit()
        self.dispatch(draft.id, spec.lost_call)
        left = [Campaign.queued == 0, Campaign.sending == 0]
        finished = {"finished_at": clock()}
        done = campaigns.transition(
            session, draft.id, campaigns.FINISH, now=clock(), where=left, values=finished
        )
        notifications.notify(session, done, NotificationKind.FINISHED, draft.id)
        session.commit()
        on_the_way = select(Campaign.accepted + Campaign.enroute).where(Campaign.id == draft.id)
        for _ in range(LAST_STATUSES):
            clock.tick(DRAIN_EVERY)
            self.drain()
            if not session.scalar(on_the_way):
                break
        self.reading()

    def dispatch(self, campaign_id: int, lost: int | None) -> None:
        """The worker's sending loop for one campaign, a second at a time, reading the status
        queue as it goes; call number ``lost`` has its reply lost on the way back."""
        session, clock = self.session, self.clock
        loaded = sending.load_sending(session, campaign_id)
        assert loaded is not None
        first_check = statuses.Checks.from_config(self.past).first
        report, calls, drained = send_calls.DispatchReport(), 0, clock()
        queued = select(Campaign.queued).where(Campaign.id == campaign_id)
        with gateways.client_for(self.past, self.team) as client:
            while session.scalar(queued):
                claimed = sending.claim_batch(session, loaded, clock())
                if claimed is not None:
                    calls += 1
                    if calls == lost:
                        lose_next_reply(self.past)
                    with quiet(send_calls.log, calls == lost):  # the story's fault, not now's
                        sent = send_calls.send_batch(
                            session, claimed, client, clock, report, first_check
                        )
                    if not sent:
                        clock.tick(BACK_OFF)
                clock.tick(1)
                if (clock() - drained).total_seconds() >= DRAIN_EVERY:
                    self.drain()
                    drained = clock()

    def drain(self) -> None:
        factory = gateways.client_factory(self.past)
        report = statuses.DrainReport()
        statuses.drain_team_queue(self.session, self.team.id, self.clock, factory, 5.0, report)

    def read_notifications(self) -> None:
        """The owner read what the month told them, an hour after each, but the last two."""
        told = self.session.scalars(
            select(Notification)
            .where(Notification.user_id == self.owner.id)
            .order_by(Notification.id)
        ).all()
        for notification in told[:-2]:
            read_at = notification.created_at + timedelta(hours=1)
            notifications.mark_read(self.session, notification, read_at)
