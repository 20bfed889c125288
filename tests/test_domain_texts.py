"""The domain's words in the reader's language: errors said through gettext, texts the worker
keeps (pause reasons, notifications) shown in the language of whoever reads them, and the
gateway's words translated beside the raw string.

The Russian catalogue is the lead's to fill; these tests give the app a small catalogue of their
own (BABEL_TRANSLATION_DIRECTORIES), so they prove the mechanics whatever it holds.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
import zxcvbn
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_python
from babel.messages.mofile import write_mo
from flask_babel import force_locale

from tests.helpers import make_campaign, sign_in, text_of, tick
from webapp import texts
from webapp.domain import campaigns, contacts, send_calls
from webapp.domain.password_feedback import SENTENCES
from webapp.extensions import babel, db
from webapp.jobs import notifications as mail_job
from webapp.models import Campaign, User, utcnow

# The back-off's pause reason (webapp/domain/send_calls.py), a plural kept for later.
FAILED_IN_A_ROW = (
    "%(reason)s (failed %(num)s time in a row)",
    "%(reason)s (failed %(num)s times in a row)",
)
RUSSIAN = {
    "Give the list a name.": "Дайте списку имя.",
    (
        "Keep the name under %(num)s character.",
        "Keep the name under %(num)s characters.",
    ): (
        "Имя короче %(num)s символа.",
        "Имя короче %(num)s символов.",
        "Имя короче %(num)s символов.",
    ),
    FAILED_IN_A_ROW: (
        "%(reason)s (не удалось %(num)s раз подряд)",
        "%(reason)s (не удалось %(num)s раза подряд)",
        "%(reason)s (не удалось %(num)s раз подряд)",
    ),
    "The gateway answered with an error: %(reason)s.": "Шлюз ответил ошибкой: %(reason)s.",
    "%(meaning)s (%(status)s)": "%(meaning)s (%(status)s)",
    "bad status queue name": "неверное имя очереди статусов",
    "the number is malformed": "номер неверный",
    "Campaign “%(name)s” was paused: %(reason)s": "Кампания «%(name)s» приостановлена: %(reason)s",
    "Paused": "Приостановлена",
}


@pytest.fixture
def app(make_app, tmp_path: Path):
    """The app with a throwaway Russian catalogue (Flask-Babel caches catalogues process-wide:
    emptied before and after, so no other test reads this one)."""
    catalog = Catalog(locale="ru")
    for msgid, msgstr in RUSSIAN.items():
        catalog.add(msgid, msgstr)
    folder = tmp_path / "translations" / "ru" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with open(folder / "messages.mo", "wb") as handle:
        write_mo(handle, catalog)
    app = make_app(BABEL_TRANSLATION_DIRECTORIES=str(tmp_path / "translations"))
    with app.app_context():
        babel.domain_instance.cache.clear()
    yield app
    with app.app_context():
        babel.domain_instance.cache.clear()


def speaks(app, person, language: str | None) -> None:
    with app.app_context():
        db.session.get(User, person.user_id).language = language
        db.session.commit()


# -- said at once ----------------------------------------------------------------------------


def test_a_domain_error_in_a_russian_request_comes_out_in_russian(app):
    for accept, said in (("ru", "Дайте списку имя."), ("en", "Give the list a name.")):
        asking = app.test_request_context(headers={"Accept-Language": accept})
        with asking, pytest.raises(contacts.ContactError) as refused:
            contacts.clean_list_name("  ")
        assert str(refused.value) == said
    asking = app.test_request_context(headers={"Accept-Language": "ru"})
    with asking, pytest.raises(contacts.ContactError) as refused:
        contacts.clean_list_name("x" * (contacts.MAX_LIST_NAME + 1))
    assert str(refused.value) == "Имя короче 100 символов."  # ngettext's form for 100


def test_a_kept_text_takes_the_russian_plural_for_its_number(app):
    with app.app_context(), force_locale("ru"):
        said = {
            n: str(texts.ngettext(*FAILED_IN_A_ROW, n, reason="x")) for n in (1, 2, 5, 11, 21, 22)
        }
    assert said == {
        1: "x (не удалось 1 раз подряд)",
        2: "x (не удалось 2 раза подряд)",
        5: "x (не удалось 5 раз подряд)",
        11: "x (не удалось 11 раз подряд)",
        21: "x (не удалось 21 раз подряд)",
        22: "x (не удалось 22 раза подряд)",
    }


def test_old_rows_keep_their_meaning_and_a_text_too_long_to_keep_is_kept_in_english(app):
    with app.app_context(), force_locale("ru"):
        assert texts.shown("Paused") == "Приостановлена"  # an old row that is a msgid
        assert texts.shown("Paused by ann@example.com") == "Paused by ann@example.com"
        assert texts.shown('{"t": not ours') == '{"t": not ours'
        long = texts.N_("The gateway answered with an error: %(reason)s.", reason="x" * 600)
        kept = texts.stored(long, 500)
        assert kept == ("The gateway answered with an error: " + "x" * 600)[:500]


# -- kept by the worker, read later ------------------------------------------------------------


def test_a_pause_reason_and_its_mail_are_in_the_language_of_each_reader(
    app, sandbox, team, make_person, mailbox
):
    """Ann reads Russian, Bob the default English: the worker keeps the reason untranslated,
    and each reads it, on the page and in the mail, in their own language, with the gateway's
    own description beside its meaning."""
    ann = app.test_client()  # the team's owner (the ``team`` fixture's), signed in anew
    sign_in(ann, "ann@example.com")
    with app.app_context():
        db.session.scalar(db.select(User).where(User.email == "ann@example.com")).language = "ru"
        db.session.commit()
    bob = make_person("bob@example.com", team=team.id, role="admin")
    app.config.update(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=mailbox.port,
        MAIL_USERNAME="mailer",
        MAIL_PASSWORD="s3cret-mail",
        PUBLIC_URL="https://sms.example.com/",
    )
    sandbox.set_faults(error_reply=1.0, error_description="invalid status queue name")
    campaign_id = make_campaign(app, team, 2)
    when = utcnow()
    for _ in range(send_calls.MAX_FAILED_ATTEMPTS):
        tick(app, clock=lambda when=when: when)
        when += timedelta(minutes=10)

    with app.app_context():
        kept = db.session.get(Campaign, campaign_id).pause_reason
    assert kept.startswith('{"t":') and not any("а" <= ch <= "я" for ch in kept)
    english = (
        "The gateway answered with an error: bad status queue name (invalid status queue name). "
        "(failed 5 times in a row)"
    )
    russian = (
        "Шлюз ответил ошибкой: неверное имя очереди статусов (invalid status queue name). "
        "(не удалось 5 раз подряд)"
    )
    page = ann.get(f"/campaigns/{campaign_id}", follow_redirects=True).text
    assert text_of(page, "pause-reason") == russian
    page = bob.get(f"/campaigns/{campaign_id}", follow_redirects=True).text
    assert text_of(page, "pause-reason") == english

    with app.app_context():
        mail_job.run(app)
    subjects = {m["To"]: m["Subject"] for m in mailbox.messages}
    assert f"Кампания «Test» приостановлена: {russian}" in subjects["ann@example.com"]
    assert f"Campaign “Test” was paused: {english}" in subjects["bob@example.com"]


def test_a_person_s_pause_is_kept_untranslated_too(app, sandbox, team):
    campaign_id = make_campaign(app, team, 1)
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        campaigns.pause(db.session, campaign, None)
        assert campaign.pause_reason == "Paused"
        with force_locale("ru"):
            assert texts.shown(campaign.pause_reason) == "Приостановлена"


# -- the gateway's words ---------------------------------------------------------------------


def test_a_gateway_status_is_shown_translated_beside_the_raw_string(
    app, sandbox, team, make_person
):
    bob = make_person("bob@example.com", team=team.id, role="admin")
    speaks(app, bob, "ru")
    campaign_id = make_campaign(app, team, 2, phones=["79161234567", "12345"])
    tick(app)
    page = bob.get(f"/campaigns/{campaign_id}", follow_redirects=True).text
    assert "номер неверный (invalid mobile phone)" in text_of(page, "messages")
    speaks(app, bob, "en")
    page = bob.get(f"/campaigns/{campaign_id}", follow_redirects=True).text
    assert "the number is malformed (invalid mobile phone)" in text_of(page, "messages")


def test_every_sentence_of_zxcvbn_is_listed_for_the_catalogue():
    """zxcvbn's feedback is translated by looking its English up: a sentence a new zxcvbn
    adds must be listed (password_feedback.SENTENCES), or it would stay English."""
    source = Path(os.path.dirname(zxcvbn.__file__)) / "feedback.py"
    with open(source, "rb") as handle:
        theirs = {found[2] for found in extract_python(handle, {"_": None}, [], {})}
    ours = {text.msgid for text in SENTENCES}
    assert theirs == ours


def test_every_note_the_sandbox_writes_on_a_sender_name_is_known_for_translation(make_app):
    # The real catalogue, not this module's throwaway one.
    from webapp import gateway_texts

    app = make_app()
    with app.app_context():
        babel.domain_instance.cache.clear()
    from webapp.sandbox.accounts import DEFAULT_SENDERS

    notes = {info for _name, _status, info in DEFAULT_SENDERS if info}
    assert notes == set(gateway_texts.SENDER_NOTES)
    with app.test_request_context(headers={"Accept-Language": "ru"}):
        shown = {gateway_texts.sender_note(note) for note in notes}
    assert shown.isdisjoint(notes)  # each one translated
    assert gateway_texts.sender_note("согласовано оператором") == "согласовано оператором"
