"""Which language a page is shown in, and the catalogues that hold the translations.

The catalogues are committed as ``webapp/translations/<lang>/LC_MESSAGES/messages.po``; the app
compiles them at start (:func:`compile_catalogues`) into the instance folder, which the service
can write (the package folder may not be writable where the app is installed). A compiled file
newer than its source is kept, so only the first process after a change compiles.

The language (:func:`select_language`): the person's choice in their profile, else the one a
signed-out visitor picked (a cookie), else the best of the browser's Accept-Language, else the
default. ``<html lang>`` says :func:`shown_language`: the language whose catalogue is actually
in use, never one the page is not in.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from flask import Flask, current_app, has_request_context, request
from flask_babel import get_locale, get_translations
from flask_login import current_user

from webapp.at_rest import private_folder

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SOURCE = PROJECT_ROOT / "webapp" / "translations"
# What is extracted, and how: Python with Flask-Babel's functions, templates with Jinja's i18n
# tags (multi-line blocks trimmed, as the app renders them).
METHODS = [("webapp/**.py", "python"), ("templates/**.html", "jinja2")]
OPTIONS = {"templates/**.html": {"trimmed": "true"}}
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "_l": None,
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
    "lazy_pgettext": ((1, "c"), 2),
}
# The cookie a signed-out visitor's choice is kept in (signed in, it is stored on the person).
COOKIE = "language"
COOKIE_MAX_AGE = 365 * 24 * 3600


def init_app(app: Flask) -> None:
    """Compile the committed catalogues into the instance folder and point Flask-Babel there."""
    target = Path(app.instance_path) / "translations"
    compile_catalogues(SOURCE, target)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(target))
    app.jinja_env.globals["shown_language"] = shown_language
    app.jinja_env.globals["language_names"] = language_names


def compile_catalogues(source: Path, target: Path) -> list[Path]:
    """Compile every ``messages.po`` under ``source`` whose ``.mo`` under ``target`` is missing or
    older; return the files written. Fuzzy entries are left out (shown in English), as gettext
    does. The file is written beside its final name and renamed, so a process starting at the
    same moment reads either the old file or the new one, never half of one."""
    written = []
    for po in sorted(source.glob("*/LC_MESSAGES/messages.po")):
        mo = target / po.relative_to(source).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        # The instance folder is the service's alone, and so is all of it (webapp.at_rest).
        for folder in (
            target,
            *(target / p for p in reversed(po.relative_to(source).parents[:-1])),
        ):
            private_folder(folder)
        with po.open("rb") as handle:
            catalogue = read_po(handle, locale=po.parent.parent.name)
        fd, temporary = tempfile.mkstemp(dir=mo.parent, suffix=".mo.tmp")
        with os.fdopen(fd, "wb") as handle:
            write_mo(handle, catalogue)
        os.replace(temporary, mo)
        written.append(mo)
    return written


def select_language() -> str | None:
    """Flask-Babel's locale selector: the person's choice, the visitor's cookie, the browser's
    best match among LANGUAGES; outside a request (the worker, the CLI) the default."""
    if not has_request_context():
        return None
    languages = current_app.config["LANGUAGES"]
    chosen = getattr(current_user, "language", None) if current_user else None
    if chosen in languages:
        return chosen
    if request.cookies.get(COOKIE) in languages:
        return request.cookies[COOKIE]
    return request.accept_languages.best_match(languages)


def shown_language() -> str:
    """The language the page is actually in: the selected one when its catalogue is loaded (or
    it is the default, which needs none), else the default."""
    locale = str(get_locale())
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    if locale == default or getattr(get_translations(), "_catalog", None):
        return locale
    return default


def language_names() -> dict[str, str]:
    """Each offered language by its own name (a Russian reads «Русский» on an English page)."""
    from babel import Locale

    return {
        code: Locale.parse(code).get_display_name(code).capitalize()
        for code in current_app.config["LANGUAGES"]
    }


def extract() -> Catalog:
    """Every translatable string of the code and the templates, as a catalogue template."""
    template = Catalog(project="iqsms-dashboard", fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        PROJECT_ROOT, METHODS, OPTIONS, keywords=KEYWORDS, strip_comment_tags=True
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def catalogue_path(language: str) -> Path:
    return SOURCE / language / "LC_MESSAGES" / "messages.po"


def read_catalogue(language: str) -> Catalog:
    with catalogue_path(language).open("rb") as handle:
        return read_po(handle, locale=language)


@click.group("translations")
def translations_cli() -> None:
    """Keep the committed catalogues in step with the code."""


@translations_cli.command("update")
def update_command() -> None:
    """Extract the strings and bring every catalogue up to date: new strings are added
    untranslated, strings no longer used are dropped. Then translate the empty entries."""
    template = extract()
    for po in sorted(SOURCE.glob("*/LC_MESSAGES/messages.po")):
        language = po.parent.parent.name
        catalogue = read_catalogue(language)
        catalogue.update(template, no_fuzzy_matching=True)
        with po.open("wb") as handle:
            write_po(handle, catalogue, width=100, ignore_obsolete=True, omit_header=False)
        missing = sum(1 for m in catalogue if m.id and not _translated(m))
        where = po.relative_to(PROJECT_ROOT)
        click.echo(f"{where}: {len(catalogue)} strings, {missing} to translate")


def _translated(message) -> bool:
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return all(strings) and not message.fuzzy
