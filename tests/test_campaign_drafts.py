"""Drafts and what is made from a campaign: a campaign is resent once (the database refuses a
second resend, whatever the tabs or processes), two tabs on one draft never overwrite each
other silently (the draft's revision), drafts are deleted (not cancelled), and "Copy this
campaign" makes a new draft of its recipients, text and options."""

from __future__ import annotations

import re
import threading
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tests.helpers import (
    HX,
    add_list,
    form,
    hidden,
    load,
    new_draft,
    oob_version,
    sync_senders,
    team_of,
    text_of,
    without_team,
)
from webapp.extensions import db
from webapp.models import AuditEvent, Campaign, CampaignState, ContactList, Message


@pytest.fixture
def ann(app, make_person, sandbox):
    app.config["SANDBOX_URL"] = sandbox.base_url
    return make_person("ann@example.com")


@pytest.fixture
def team_id(app, ann) -> int:
    team_id = team_of(app, ann).id
    sync_senders(app, team_id)  # MyBrand can send
    return team_id


def finished_campaign(app, team_id: int, states: list[str], **values) -> int:
    """A finished campaign whose messages are in ``states``, counters to match."""
    with app.app_context():
        campaign = Campaign(
            team_id=team_id,
            name=values.pop("name", "Spring sale"),
            state=CampaignState.FINISHED,
            text=values.pop("text", "Sale!"),
            sender="MyBrand",
            price_per_part=Decimal("2.50"),
            recipients=len(states),
            **{s: states.count(s) for s in set(states)},
            **values,
        )
        db.session.add(campaign)
        db.session.flush()
        db.session.execute(
            sa.insert(Message),
            [
                {
                    "team_id": team_id,
                    "campaign_id": campaign.id,
                    "phone": f"7916{i:07d}",
                    "text": f"Sale {i}",
                    "state": state,
                }
                for i, state in enumerate(states)
            ],
        )
        db.session.commit()
        return campaign.id


def confirm_id(location: str) -> int:
    match = re.fullmatch(r"/campaigns/(\d+)/confirm", without_team(location))
    assert match, location
    return int(match.group(1))


def resends_of(app, source_id: int) -> list[tuple[int, str]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(Campaign.id, Campaign.state).where(Campaign.resend_of == source_id)
        )
        return [tuple(row) for row in rows]


# -- resend once ---------------------------------------------------------------------------------


def test_a_campaign_is_resent_once_and_then_links_to_its_resend(app, ann, team_id):
    source_id = finished_campaign(app, team_id, ["failed", "unknown", "delivered"])
    draft_id = confirm_id(ann.post(f"/campaigns/{source_id}/resend").location)
    # While the resend waits for its confirmation, the source says so and its button opens it.
    page = ann.get(f"/campaigns/{source_id}").text
    assert "waiting for confirmation" in text_of(page, "resent-as")
    assert "Resend failed and unknown (2)" in page
    confirm = ann.get(f"/campaigns/{draft_id}/confirm").text
    sent = ann.post(
        f"/campaigns/{draft_id}/send",
        {"version": hidden(confirm, "version"), "recipients": hidden(confirm, "recipients")},
    )
    assert without_team(sent.location) == f"/campaigns/{draft_id}"

    page = ann.get(f"/campaigns/{source_id}").text
    assert text_of(page, "resent-as").startswith("Resent as Resend of Spring sale")
    assert f'href="/campaigns/{draft_id}"' in without_team(page)
    assert "Resend failed and unknown" not in page  # not offered again here...
    again = ann.post(f"/campaigns/{source_id}/resend")  # ...nor made by a stale tab's button
    assert without_team(again.location) == f"/campaigns/{draft_id}"
    assert "resent already, as Resend of Spring sale" in ann.get(again.location).text
    assert resends_of(app, source_id) == [(draft_id, "scheduled")]
    # The resend's own page names its source; what fails in it is resent from there.
    assert "Spring sale" in text_of(ann.get(f"/campaigns/{draft_id}").text, "resend-source")


def test_the_database_refuses_a_second_resend_of_one_campaign(app, team_id):
    """Two sessions (two processes' worth) insert a resend of one campaign at once, without
    the row lock resend_draft takes: the unique index lets one commit and refuses the other."""
    source_id = finished_campaign(app, team_id, ["failed"])
    first_inserted, outcome = threading.Event(), {}

    def insert(key: str, wait: threading.Event | None) -> None:
        with app.app_context():
            try:
                db.session.add(
                    Campaign(team_id=team_id, name=key, state="draft", resend_of=source_id)
                )
                db.session.flush()
                if wait is None:
                    first_inserted.set()
                    threading.Event().wait(0.5)  # the other insert starts meanwhile
                db.session.commit()
                outcome[key] = "committed"
            except IntegrityError:
                db.session.rollback()
                outcome[key] = "refused"
            finally:
                first_inserted.set()

    one = threading.Thread(target=insert, args=("one", None))
    one.start()
    assert first_inserted.wait(10)
    two = threading.Thread(target=insert, args=("two", first_inserted))
    two.start()
    one.join(15)
    two.join(15)
    assert outcome == {"one": "committed", "two": "refused"}
    assert [state for _, state in resends_of(app, source_id)] == ["draft"]


def test_a_deleted_resend_draft_frees_its_campaign_to_be_resent(app, ann, team_id):
    source_id = finished_campaign(app, team_id, ["failed", "failed"])
    draft_id = confirm_id(ann.post(f"/campaigns/{source_id}/resend").location)
    confirm = ann.get(f"/campaigns/{draft_id}/confirm").text
    assert "Delete this resend" in text_of(confirm, "resend-delete")
    deleted = ann.post(f"/campaigns/{draft_id}/delete")
    assert without_team(deleted.location) == "/campaigns"
    assert resends_of(app, source_id) == []
    page = ann.get(f"/campaigns/{source_id}").text
    assert 'data-testid="resent-as"' not in page and "Resend failed and unknown (2)" in page
    assert resends_of(app, source_id) == []
    ann.post(f"/campaigns/{source_id}/resend")
    assert [state for _, state in resends_of(app, source_id)] == ["draft"]


def send_resend(ann, source_id: int) -> int:
    draft_id = confirm_id(ann.post(f"/campaigns/{source_id}/resend").location)
    confirm = ann.get(f"/campaigns/{draft_id}/confirm").text
    ann.post(
        f"/campaigns/{draft_id}/send",
        {"version": hidden(confirm, "version"), "recipients": hidden(confirm, "recipients")},
    )
    return draft_id


def test_a_cancelled_resend_that_sent_some_stays_the_resend(app, ann, team_id):
    """What a cancelled resend sent must not be sent twice: its source still links to it and
    offers nothing again."""
    source_id = finished_campaign(app, team_id, ["failed", "failed"])
    resend_id = send_resend(ann, source_id)
    with app.app_context():  # the worker sent one of its two before it was cancelled
        first = db.session.scalar(
            sa.select(sa.func.min(Message.id)).where(Message.campaign_id == resend_id)
        )
        db.session.execute(sa.update(Message).where(Message.id == first).values(state="accepted"))
        db.session.execute(
            sa.update(Campaign)
            .where(Campaign.id == resend_id)
            .values(queued=Campaign.queued - 1, accepted=1)
        )
        db.session.commit()
    ann.post(f"/campaigns/{resend_id}/cancel")
    assert resends_of(app, source_id) == [(resend_id, "cancelled")]
    page = ann.get(f"/campaigns/{source_id}").text
    assert "(cancelled)" in text_of(page, "resent-as")
    assert "Resend failed and unknown" not in page


def test_a_resend_cancelled_before_it_sent_anything_lets_its_campaign_be_resent(app, ann, team_id):
    source_id = finished_campaign(app, team_id, ["failed"])
    resend_id = send_resend(ann, source_id)
    ann.post(f"/campaigns/{resend_id}/cancel")
    page = ann.get(f"/campaigns/{source_id}").text
    assert 'data-testid="resent-as"' not in page
    assert "Resend failed and unknown" in page
    again = confirm_id(ann.post(f"/campaigns/{source_id}/resend").location)
    assert again != resend_id
    assert resends_of(app, source_id) == [(again, "draft")]
    with app.app_context():  # the cancelled one stays, as a campaign of its own
        assert db.session.get(Campaign, resend_id).state == "cancelled"


# -- drafts are deleted --------------------------------------------------------------------------


def test_a_draft_is_deleted_not_cancelled_and_the_deletion_is_audited(app, ann, team_id):
    draft_id = new_draft(ann)
    edit = ann.get(f"/campaigns/{draft_id}/edit").text
    assert f'action="/campaigns/{draft_id}/delete"' in without_team(edit)
    assert "hx-confirm=" in re.search(r'<form[^>]*class="inline discard"[^>]*>', edit).group(0)
    assert ann.post(f"/campaigns/{draft_id}/cancel").status_code == 302  # refused
    assert load(app, draft_id).state == "draft"
    response = ann.post(f"/campaigns/{draft_id}/delete")
    assert without_team(response.location) == "/campaigns"
    assert "is deleted" in ann.get("/campaigns").text
    with app.app_context():
        assert db.session.get(Campaign, draft_id) is None
        event = db.session.scalar(
            sa.select(AuditEvent).where(AuditEvent.action == "campaign_draft_deleted")
        )
        assert event.details["campaign"] == draft_id
    assert ann.post(f"/campaigns/{draft_id}/delete").status_code == 404


def test_a_campaign_that_is_no_longer_a_draft_is_not_deleted(app, ann, team_id):
    sent_id = finished_campaign(app, team_id, ["delivered"])
    response = ann.post(f"/campaigns/{sent_id}/delete")
    assert without_team(response.location) == f"/campaigns/{sent_id}"
    assert "cannot be deleted" in ann.get(response.location).text
    assert load(app, sent_id).state == "finished"


# -- copy this campaign --------------------------------------------------------------------------


def test_copy_makes_a_draft_with_the_recipients_text_and_options_not_the_schedule(
    app, ann, team_id
):
    kept = add_list(app, team_id, "Kept", [("79160000001", {"name": "A"})])
    gone = add_list(app, team_id, "Gone", [("79160000002", {"name": "B"})])
    source_id = finished_campaign(
        app,
        team_id,
        ["delivered"],
        name="Autumn",
        text="Hi {name}",
        flash=True,
        wapurl="wap.example.ru",
        list_ids=[kept, gone],
        pasted_numbers="+79160000003",
        send_at=sa.func.now(),
    )
    with app.app_context():
        db.session.delete(db.session.get(ContactList, gone))
        db.session.commit()
    assert "Copy this campaign" in ann.get(f"/campaigns/{source_id}").text
    response = ann.post(f"/campaigns/{source_id}/copy")
    match = re.fullmatch(r"/campaigns/(\d+)/edit", without_team(response.location))
    assert match
    copy = load(app, int(match.group(1)))
    assert (copy.state, copy.name, copy.text, copy.sender) == (
        "draft",
        "Copy of Autumn",
        "Hi {name}",
        "MyBrand",
    )
    assert (copy.flash, copy.wapurl, copy.list_ids, copy.pasted_numbers) == (
        True,
        "wap.example.ru",
        [kept],
        "+79160000003",
    )
    assert copy.send_at is None and copy.resend_of is None
    page = ann.get(response.location).text
    assert "1 list of the campaign no longer exists and was left out." in page
    assert "Copied the recipients, text and options." in page


def test_copy_of_a_resend_takes_its_text_and_options_and_says_what_it_does_not(app, ann, team_id):
    source_id = finished_campaign(app, team_id, ["failed"])
    resend_id = confirm_id(ann.post(f"/campaigns/{source_id}/resend").location)
    response = ann.post(f"/campaigns/{resend_id}/copy")
    copy_id = int(re.fullmatch(r"/campaigns/(\d+)/edit", without_team(response.location))[1])
    copy = load(app, copy_id)
    assert (copy.text, copy.sender, copy.resend_of, copy.list_ids) == ("Sale!", "MyBrand", None, [])
    assert "The recipients were not copied" in ann.get(response.location).text
    assert resends_of(app, source_id) == [(resend_id, "draft")]


# -- two tabs on one draft -----------------------------------------------------------------------


def test_two_tabs_never_overwrite_each_other_silently(app, ann, team_id):
    draft_id = new_draft(ann)
    opened = ann.get(f"/campaigns/{draft_id}/edit").text  # both tabs open at this revision
    version = hidden(opened, "version")

    # Tab A types: saved, and its form's version moves on (out of band).
    a = ann.post(
        f"/campaigns/{draft_id}/preview", form(text="From tab A", version=version), headers=HX
    )
    assert 'data-testid="draft-conflict"' not in a.text
    a_version = oob_version(a.text)
    assert a_version is not None and a_version != version
    assert load(app, draft_id).text == "From tab A"

    # Tab B, still at the first revision, types: nothing is saved, and it is told so.
    b = ann.post(
        f"/campaigns/{draft_id}/preview", form(text="From tab B", version=version), headers=HX
    )
    assert b.status_code == 200 and oob_version(b.text) is None
    warning = text_of(b.text, "draft-conflict")
    assert "changed elsewhere" in warning and "Load the other version" in warning
    assert load(app, draft_id).text == "From tab A"

    # A full-page post from tab B ("Save draft") is refused alike and keeps B's text.
    page = ann.post(
        f"/campaigns/{draft_id}/edit", form(text="From tab B", version=version, action="save")
    )
    assert page.status_code == 409
    assert "From tab B</textarea>" in page.text and 'data-testid="draft-conflict"' in page.text
    # The summary at the top says why, and links to the choice (not the other version's todo).
    summary = re.findall(r'data-testid="error-summary".*?<ul>(.*?)</ul>', page.text, re.S)
    assert [item.strip() for item in summary] == [
        '<li><a href="#draft-conflict">Not saved: this draft was changed elsewhere after you '
        "opened it. Choose which version to keep.</a></li>"
    ]
    assert hidden(page.text, "version") == version  # still stale, until a choice is made
    keep_mine = re.search(r'<button[^>]*name="overwrite"[^>]*value="(\d+)"', page.text).group(1)
    assert keep_mine == a_version

    # "Keep mine": B's text replaces A's, knowingly.
    kept = ann.post(
        f"/campaigns/{draft_id}/edit",
        form(text="From tab B", version=version, overwrite=keep_mine),
    )
    assert without_team(kept.location) == f"/campaigns/{draft_id}/edit"
    assert load(app, draft_id).text == "From tab B"
    # Now tab A is the stale one.
    again = ann.post(
        f"/campaigns/{draft_id}/preview", form(text="From tab A!", version=a_version), headers=HX
    )
    assert 'data-testid="draft-conflict"' in again.text
    assert load(app, draft_id).text == "From tab B"
    # "Load the other version" opens the draft as saved, at its current revision.
    reloaded = ann.get(f"/campaigns/{draft_id}/edit").text
    assert "From tab B</textarea>" in reloaded
    assert hidden(reloaded, "version") == str(load(app, draft_id).revision)


def test_a_form_that_holds_what_is_saved_is_no_conflict(app, ann, team_id):
    """This tab's own autosave answered after it posted again (the "Continue" click raced the
    answer): the stale version carries nothing new, so nothing is refused."""
    draft_id = new_draft(ann)
    version = hidden(ann.get(f"/campaigns/{draft_id}/edit").text, "version")
    ann.post(f"/campaigns/{draft_id}/preview", form(text="Same", version=version), headers=HX)
    again = ann.post(
        f"/campaigns/{draft_id}/preview", form(text="Same", version=version), headers=HX
    )
    assert 'data-testid="draft-conflict"' not in again.text


def test_the_confirmation_refuses_a_draft_saved_since_it_was_shown(app, ann, team_id):
    """One notion of a draft's version: the composer's revision is what the confirmation
    page carries."""
    draft_id = new_draft(ann)
    ann.post(f"/campaigns/{draft_id}/preview", form(pasted_numbers="+79160000001"), headers=HX)
    confirm = ann.get(f"/campaigns/{draft_id}/confirm").text
    assert hidden(confirm, "version") == str(load(app, draft_id).revision)
    ann.post(f"/campaigns/{draft_id}/preview", form(pasted_numbers="+79160000002"), headers=HX)
    sent = ann.post(
        f"/campaigns/{draft_id}/send",
        {"version": hidden(confirm, "version"), "recipients": hidden(confirm, "recipients")},
    )
    assert without_team(sent.location) == f"/campaigns/{draft_id}/confirm"
    assert load(app, draft_id).state == "draft"


def test_a_late_autosave_of_what_is_saved_leaves_the_confirmation_valid(app, ann, team_id):
    """ "Continue" saved the draft and showed the confirmation; the autosave of the same text,
    sent before the click, answers only now (a slow server): it changes nothing, so the
    confirmation still sends."""
    draft_id = new_draft(ann)
    version = hidden(ann.get(f"/campaigns/{draft_id}/edit").text, "version")
    typed = form(text="Later", pasted_numbers="+79160000001", version=version, tab="tab-a")
    ann.post(f"/campaigns/{draft_id}/preview", typed, headers=HX)
    confirm = ann.get(f"/campaigns/{draft_id}/confirm").text
    shown = load(app, draft_id).revision
    ann.post(f"/campaigns/{draft_id}/preview", typed, headers=HX)  # the late one
    assert load(app, draft_id).revision == shown
    sent = ann.post(
        f"/campaigns/{draft_id}/send",
        {"version": hidden(confirm, "version"), "recipients": hidden(confirm, "recipients")},
    )
    assert without_team(sent.location) == f"/campaigns/{draft_id}"
    assert load(app, draft_id).state != "draft"


def test_a_tab_racing_its_own_autosave_is_no_conflict_but_another_tab_is(app, ann, team_id):
    """A click (or a keystroke) sent before this tab's autosave answered carries the older
    revision: the revision was this tab's own (its page token), so it saves; the same stale
    revision from another tab's page does not."""
    draft_id = new_draft(ann)
    version = hidden(ann.get(f"/campaigns/{draft_id}/edit").text, "version")
    path = f"/campaigns/{draft_id}/preview"
    ann.post(path, form(text="One", version=version, tab="tab-a"), headers=HX)
    own = ann.post(path, form(text="One, two", version=version, tab="tab-a"), headers=HX)
    assert 'data-testid="draft-conflict"' not in own.text
    assert load(app, draft_id).text == "One, two"
    other = ann.post(path, form(text="Other", version=version, tab="tab-b"), headers=HX)
    assert 'data-testid="draft-conflict"' in other.text
    assert load(app, draft_id).text == "One, two"


def test_sending_is_refused_in_the_database_when_the_draft_was_saved_meanwhile(app, ann, team_id):
    """The view compares the confirmed revision, then the check runs (long, on big lists):
    another tab's save in between must not be sent under the confirmed text. The commit's
    own UPDATE requires the confirmed revision."""
    from webapp.domain import campaigns

    draft_id = new_draft(ann)
    ann.post(
        f"/campaigns/{draft_id}/preview",
        form(pasted_numbers="+79160000001", text="Confirmed", sender="MyBrand"),
        headers=HX,
    )
    with app.app_context():
        campaign = db.session.get(Campaign, draft_id)
        confirmed = campaign.revision
        db.session.execute(
            sa.update(Campaign)
            .where(Campaign.id == draft_id)
            .values(text="Typed in another tab", revision=Campaign.revision + 1)
        )
        db.session.commit()
        with pytest.raises(campaigns.CampaignError, match="The draft changed since"):
            campaigns.commit(db.session, campaign, revision=confirmed)
        assert db.session.get(Campaign, draft_id).state == CampaignState.DRAFT
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0
