"""Every page and fragment, rendered for a Russian reader, has no English left in what a person
sees or hears: text, and the attributes shown or read aloud (placeholders, titles, labels,
button values, confirmations). What is not ours to translate is left out: the team's own data
(its names, texts, emails), brand and protocol names, and what the page itself marks as
another language (``lang="en"``: a raw gateway string beside its translation)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import JSON, String, Text, select

from tests.helpers import HX, sign_in
from tests.page_walk import is_fragment, lived_in_team, page_paths, public_paths
from webapp.extensions import db

RU = {"Accept-Language": "ru-RU,ru;q=0.9"}
# Shown or read aloud: these attributes are text too.
SPOKEN_ATTRIBUTES = {"placeholder", "title", "aria-label", "alt", "hx-confirm", "data-confirm"}
# Not words of a language: scripts, styles, and code (commands, identifiers) the page marks up.
SILENT = {"script", "style", "template", "svg", "code", "kbd", "samp"}
# Names of things, not words of a language.
BRANDS = {
    "iqsms",
    "sms",
    "gsm",
    "ucs",
    "csv",
    "utf",
    "json",
    "api",
    "url",
    "http",
    "https",
    "htmx",
    "excel",
    "totp",
    "www",
    "ip",
    "id",
    "rub",
    "utc",
    "gmt",
    "sandbox.iqsms",
    "iqsms.ru",
    "dashboard",  # the product's name: iQSMS Dashboard
    "google",
    "authenticator",
    "aegis",
    "1password",
    "qr",
    "windows",
    "bom",
    "wap",
    "push",
}
WORD = re.compile(r"[A-Za-z0-9]*[A-Za-z][A-Za-z0-9']*")
# Not prose: placeholders ({name|друг}: a field's name is the team's), addresses and host names.
CODE = re.compile(r"\{[^{}]*\}|\S+@\S+|\b[\w-]+(?:\.[\w-]+)+(?:/\S*)?")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip


class Visible(HTMLParser):
    """The text a person sees or hears on a page, but for what is marked as another language."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []  # (tag, text inside is skipped)
        self.parts: list[str] = []

    def skipping(self) -> bool:
        return bool(self.stack) and self.stack[-1][1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        skip = (
            self.skipping()
            or tag in SILENT
            or (values.get("lang") not in (None, "ru") and tag != "html")
            or values.get("translate") == "no"
        )
        if not skip:
            self.parts.extend(v for k, v in attrs if k in SPOKEN_ATTRIBUTES and v)
            if tag == "input" and values.get("type") in ("submit", "button", "reset"):
                self.parts.append(values.get("value") or "")
        if tag not in VOID:
            self.stack.append((tag, skip))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                return

    def handle_data(self, data: str) -> None:
        if not self.skipping():
            self.parts.append(data)


def english_words(html: str, allowed: set[str]) -> list[str]:
    parser = Visible()
    parser.feed(html)
    text = CODE.sub(" ", " ".join(parser.parts))
    return sorted(
        {w for w in WORD.findall(text) if w.lower() not in BRANDS and w.lower() not in allowed}
    )


def data_words(app) -> set[str]:
    """Every word in the database's text and JSON columns: the team's own names, texts,
    emails and contacts' fields."""
    words: set[str] = set()

    def collect(value) -> None:
        if isinstance(value, str):
            words.update(w.lower() for w in WORD.findall(value))
        elif isinstance(value, dict):
            for key, item in value.items():
                collect(key)
                collect(item)
        elif isinstance(value, list | tuple):
            for item in value:
                collect(item)

    with app.app_context():
        for table in db.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
            if columns:
                for row in db.session.execute(select(*columns)):
                    collect(tuple(row))
    return words


@pytest.fixture(scope="module")
def walked(tmp_path_factory):
    from tests.helpers import TEST_DATABASE_URL
    from webapp.app import create_app

    path = tmp_path_factory.mktemp("russian")
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "SQLALCHEMY_DATABASE_URI": TEST_DATABASE_URL or f"sqlite:///{path / 'ru.sqlite3'}",
            "SANDBOX_URL": "http://127.0.0.1:9/messages/v2/",
        }
    )
    with app.app_context():
        db.drop_all()
        db.create_all()
    team = lived_in_team(app)
    yield app, team
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def test_every_page_is_in_russian(walked) -> None:
    app, team = walked
    client = app.test_client()
    assert sign_in(client, team.email, team.password).status_code == 302
    public = public_paths(app)  # before the data is read: it makes people of its own
    allowed = data_words(app)
    found = {}
    for path in page_paths(app, team):
        headers = {**RU, **HX} if is_fragment(app, path) else RU
        response = client.get(path, headers=headers)
        if "text/html" not in response.content_type:
            continue
        words = english_words(response.get_data(as_text=True), allowed)
        if words:
            found[path] = words
    anonymous = app.test_client()
    for path in public:
        response = anonymous.get(path, headers=RU)
        if "text/html" in response.content_type:
            words = english_words(response.get_data(as_text=True), allowed)
            if words:
                found[path] = words
    report = "\n".join(f"{path}: {' '.join(words[:30])}" for path, words in found.items())
    assert not found, f"English left on {len(found)} pages:\n{report}"


# Forms sent with what a person gets wrong: the errors, flashes and hints they then read.
# (endpoint, URL arguments from the team, form data)
MISTAKES = [
    ("campaigns.edit", {"campaign_id": "draft_id"},
     {"action": "review", "name": "", "text": "{{имя} {", "sender": "", "when": "later",
      "pasted_numbers": "12, абв, +7916"}),
    ("campaigns.preview", {"campaign_id": "draft_id"},
     {"name": "x" * 300, "text": "Привет {имя", "sender": "", "when": "later",
      "scheduled_date": "31.02.2026", "wapurl": "ftp://x"}),
    ("contacts.paste", {"list_id": "list_id"}, {"numbers": "12, абв, +79161234599, +7916"}),
    ("contacts.add_contact", {"list_id": "list_id"}, {"phone": "123"}),
    ("contacts.stop_list_add", {}, {"numbers": "zzz"}),
    ("gateway.settings", {}, {"mode": "iqsms", "login": "", "password": "", "url": "ftp://x"}),
    ("teams.invite", {}, {"role": "nobody", "note": "x" * 600}),
    ("teams.settings", {}, {"name": "", "timezone": "Mars/Base", "phone_region": "XX"}),
    ("message_templates.new", {}, {"name": "", "text": "{имя"}),
    ("balance.warning", {}, {"threshold": "много"}),
    ("auth.account", {}, {"current_password": "wrong", "new_password": "123", "confirm": "1"}),
    ("auth.set_phone", {}, {"phone": "123"}),
    ("test_sends.send", {"campaign_id": "draft_id"}, {"numbers": "абв"}),
]  # fmt: skip
SIGNED_OUT_MISTAKES = [
    ("auth.login", {"email": "nobody@example.com", "password": "wrong password"}),
    ("auth.signup", {"email": "not an email", "password": "123"}),
    ("password_reset.forgot", {"email": "not an email"}),
]


def _url(app, endpoint: str, arguments: dict[str, str], team) -> str:
    from flask import url_for

    with app.test_request_context():
        return url_for(endpoint, **{k: getattr(team, v) for k, v in arguments.items()})


def test_what_a_person_gets_wrong_is_said_in_russian(walked) -> None:
    from tests.helpers import csrf_token

    app, team = walked
    client = app.test_client()
    assert sign_in(client, team.email, team.password).status_code == 302
    token = csrf_token(client, "/account")
    # What the person typed comes back as typed: not words of the page.
    typed = " ".join(str(v) for _, _, data in MISTAKES for v in data.values())
    allowed = data_words(app) | {w.lower() for w in WORD.findall(typed)}
    found = {}
    for endpoint, arguments, data in MISTAKES:
        path = _url(app, endpoint, arguments, team)
        for headers in (RU, {**RU, **HX}):  # a full-page post, and htmx's
            response = client.post(
                path, data={"csrf_token": token, **data}, headers=headers, follow_redirects=True
            )
            assert response.status_code < 500, f"POST {path}: {response.status_code}"
            words = english_words(response.get_data(as_text=True), allowed)
            if words:
                found[f"POST {path} {'(htmx)' if 'HX-Request' in headers else ''}"] = words
    visitor = app.test_client()
    for endpoint, data in SIGNED_OUT_MISTAKES:
        path = _url(app, endpoint, {}, team)
        response = visitor.post(
            path,
            data={"csrf_token": csrf_token(visitor, path), **data},
            headers=RU,
            follow_redirects=True,
        )
        words = english_words(response.get_data(as_text=True), allowed)
        if words:
            found[f"POST {path} signed out"] = words
    report = "\n".join(f"{what}: {' '.join(words[:30])}" for what, words in found.items())
    assert not found, f"English left after {len(found)} mistakes:\n{report}"
