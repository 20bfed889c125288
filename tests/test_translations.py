"""The catalogues hold every string the code and the templates can show, translated, with the
same placeholders (``flask translations update`` brings them in step; a translator fills them)."""

from __future__ import annotations

import pytest

from webapp import i18n

LANGUAGES = [p.parent.parent.name for p in i18n.SOURCE.glob("*/LC_MESSAGES/messages.po")]


@pytest.fixture(scope="module")
def extracted():
    return i18n.extract()


def test_there_is_a_russian_catalogue() -> None:
    assert "ru" in LANGUAGES


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_string_is_in_the_catalogue_translated(extracted, language: str) -> None:
    catalogue = i18n.read_catalogue(language)
    missing, untranslated, fuzzy = [], [], []
    for message in extracted:
        if not message.id:
            continue
        found = catalogue.get(message.id, message.context)
        where = f"{message.id!r} ({message.locations[0][0]}:{message.locations[0][1]})"
        if found is None:
            missing.append(where)
        elif found.fuzzy:
            fuzzy.append(where)
        elif not i18n._translated(found):
            untranslated.append(where)
    problems = [
        (f"{len(missing)} not in the catalogue", missing),
        (f"{len(untranslated)} not translated", untranslated),
        (f"{len(fuzzy)} fuzzy", fuzzy),
    ]
    report = "\n".join(
        f"{title}:\n  " + "\n  ".join(items[:40]) for title, items in problems if items
    )
    assert not report, f"{language}: run `flask translations update`, then translate:\n{report}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_the_placeholders(language: str) -> None:
    catalogue = i18n.read_catalogue(language)
    errors = [
        f"{message.id!r}: {'; '.join(str(e) for e in found)}"
        for message, found in catalogue.check()
    ]
    assert not errors, "\n".join(errors[:40])
