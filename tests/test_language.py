"""The language a page is shown in: the person's choice, else a visitor's, else the browser's;
``<html lang>`` always names the language the page is actually in; catalogues compiled at start."""

from __future__ import annotations

import os
import re
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from tests.helpers import csrf_token, post_form, without_team
from webapp.extensions import db
from webapp.i18n import compile_catalogues
from webapp.models import User

RU = {"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"}
EN = {"Accept-Language": "en-GB,en;q=0.9"}
HTML_LANG = re.compile(r'<html lang="([a-z]+)">')


def lang_of(response) -> str:
    match = HTML_LANG.search(response.get_data(as_text=True))
    assert match, "no <html lang> on the page"
    return match.group(1)


def test_the_browser_language_is_used_and_named(client) -> None:
    russian = client.get("/login", headers=RU)
    assert lang_of(russian) == "ru"
    assert "Войти" in russian.get_data(as_text=True)
    english = client.get("/login", headers=EN)
    assert lang_of(english) == "en"
    assert "Sign in" in english.get_data(as_text=True)


def test_a_language_without_a_catalogue_is_not_claimed(make_app) -> None:
    # German is offered here but has no catalogue: the page is English, and says so.
    app = make_app(LANGUAGES=["en", "ru", "de"])
    page = app.test_client().get("/login", headers={"Accept-Language": "de"})
    assert lang_of(page) == "en"
    assert "Sign in" in page.get_data(as_text=True)


def test_a_visitor_chooses_a_language_for_this_browser(client) -> None:
    token = csrf_token(client, "/login")
    chosen = client.post(
        "/language", data={"csrf_token": token, "language": "ru", "next": "/signup"}, headers=EN
    )
    assert chosen.status_code == 302
    assert chosen.headers["Location"] == "/signup"
    assert lang_of(client.get("/login", headers=EN)) == "ru"
    # "" follows the browser again.
    client.post("/language", data={"csrf_token": token, "language": ""}, headers=EN)
    assert lang_of(client.get("/login", headers=EN)) == "en"


def test_the_person_s_choice_wins_over_the_browser_on_every_device(app, make_person) -> None:
    ann = make_person("ann@example.com")
    assert lang_of(ann.get("/account", headers=EN)) == "en"
    chosen = ann.post("/language", {"language": "ru", "next": "/account"}, headers=EN)
    assert chosen.headers["Location"] == "/account"
    page = ann.get("/account", headers=EN)
    assert lang_of(page) == "ru"
    with app.app_context():
        assert db.session.get(User, ann.user_id).language == "ru"
    # Another device of hers, with an English browser, signs in and reads Russian.
    other = app.test_client()
    post_form(other, "/login", {"email": ann.email, "password": "correct horse battery"})
    assert lang_of(other.get("/", headers=EN)) == "ru"
    # Back to the browser's language.
    ann.post("/language", {"language": "", "next": "/account"}, headers=RU)
    assert lang_of(ann.get("/account", headers=EN)) == "en"
    with app.app_context():
        assert db.session.get(User, ann.user_id).language is None


def test_a_language_not_offered_or_a_foreign_next_is_ignored(app, make_person) -> None:
    ann = make_person("ann@example.com")
    response = ann.post("/language", {"language": "xx", "next": "https://evil.example/"})
    assert without_team(response.headers["Location"]) == "/"
    with app.app_context():
        assert db.session.get(User, ann.user_id).language is None


def test_every_page_offers_the_other_language_in_its_own_name(client) -> None:
    english = client.get("/login", headers=EN).get_data(as_text=True)
    assert 'lang="ru">Русский</button>' in english
    russian = client.get("/login", headers=RU).get_data(as_text=True)
    assert 'lang="en">English</button>' in russian


def _catalogue(path: Path, translation: str, *, fuzzy: bool = False) -> None:
    catalogue = Catalog(locale="ru")
    catalogue.add("Sign in", translation, flags=("fuzzy",) if fuzzy else ())
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalogue)


def test_catalogues_are_compiled_once_and_again_when_changed(tmp_path: Path) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    po = source / "ru" / "LC_MESSAGES" / "messages.po"
    _catalogue(po, "Войти")
    mo = target / "ru" / "LC_MESSAGES" / "messages.mo"
    assert compile_catalogues(source, target) == [mo]
    assert "Войти".encode() in mo.read_bytes()
    assert compile_catalogues(source, target) == []  # up to date: not written again
    _catalogue(po, "Вход")
    later = mo.stat().st_mtime + 5
    os.utime(po, (later, later))
    assert compile_catalogues(source, target) == [mo]
    assert "Вход".encode() in mo.read_bytes()
    assert list(mo.parent.glob("*.tmp")) == []


def test_a_fuzzy_translation_is_not_shown(tmp_path: Path) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    _catalogue(source / "ru" / "LC_MESSAGES" / "messages.po", "Войти", fuzzy=True)
    compile_catalogues(source, target)
    assert "Войти".encode() not in (target / "ru" / "LC_MESSAGES" / "messages.mo").read_bytes()


def test_russian_counts_take_their_plural_forms(app) -> None:
    from flask_babel import force_locale, ngettext

    with app.test_request_context(), force_locale("ru"):
        messages = [
            ngettext("Schedule %(num)s message", "Schedule %(num)s messages", n)
            for n in (1, 2, 5, 21, 111)
        ]
        recipients = [
            ngettext("%(num)s recipient", "%(num)s recipients", n) for n in (1, 21, 3, 11)
        ]
    assert messages == [
        "Запланировать 1 сообщение",
        "Запланировать 2 сообщения",
        "Запланировать 5 сообщений",
        "Запланировать 21 сообщение",
        "Запланировать 111 сообщений",
    ]
    assert recipients == ["1 получатель", "21 получатель", "3 получателя", "11 получателей"]
