"""The composer's words: every sentence its check (webapp/domain/composer.py) and a template's
rules (message_templates.py) say about a text, with its figures written as the app writes
counts and its plurals right in each language. Said at once, in the request's language."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import ngettext

from webapp.domain.placeholders import Slip
from webapp.formatting import count


def no_recipients(resend: bool) -> str:
    if resend:
        return _("There are no failed or unknown messages left to resend.")
    return _("There are no recipients yet: choose a list or paste numbers.")


def too_much_pasted(most: int, has: int) -> str:
    return ngettext(
        "Paste at most %(count)s character of numbers at a time; this has %(has)s. Paste the "
        "rest separately, or upload them as a CSV file.",
        "Paste at most %(count)s characters of numbers at a time; this has %(has)s. Paste the "
        "rest separately, or upload them as a CSV file.",
        most,
        count=count(most),
        has=count(has),
    )


def more_slips(more: int) -> str:
    """After the slips described one by one: how many more there are."""
    return ngettext(
        "And %(count)s more brace like this to mend.",
        "And %(count)s more braces like these to mend.",
        more,
        count=count(more),
    )


def empty_sample(phone: str) -> str:
    return _(
        "The message is empty once its placeholders are filled in for +%(phone)s: give the "
        "empty fields a fallback, like {name|friend}, or write some text.",
        phone=phone,
    )


def too_many_names(most: int, names: int) -> str:
    return ngettext(
        "A message can use at most %(count)s different placeholder; this one uses %(names)s. "
        "Remove some of them.",
        "A message can use at most %(count)s different placeholders; this one uses %(names)s. "
        "Remove some of them.",
        most,
        count=count(most),
        names=count(names),
    )


def too_many_uses(most: int, uses: int) -> str:
    return ngettext(
        "A message can hold at most %(count)s placeholder in all; this one holds %(uses)s. "
        "Remove some of them.",
        "A message can hold at most %(count)s placeholders in all; this one holds %(uses)s. "
        "Remove some of them.",
        most,
        count=count(most),
        uses=count(uses),
    )


def _parts(parts: int) -> str:
    return ngettext("%(count)s part", "%(count)s parts", parts, count=count(parts))


def _characters(characters: int) -> str:
    return ngettext(
        "%(count)s character", "%(count)s characters", characters, count=count(characters)
    )


def most_parts(parts: int, gsm_chars: int, ucs2_chars: int) -> str:
    """The longest a message may be: ``10 parts (1,530 characters, or 670 in UCS-2)``."""
    return _(
        "%(parts)s (%(gsm)s, or %(ucs2)s in UCS-2)",
        parts=_parts(parts),
        gsm=_characters(gsm_chars),
        ucs2=count(ucs2_chars),
    )


def text_too_long(length: int, most: str) -> str:
    return _(
        "This text has %(length)s; a message can take at most %(most)s. Shorten it.",
        length=_characters(length),
        most=most,
    )


def too_many_parts(parts: int, most: str, over: int) -> str:
    return _(
        "This message takes %(parts)s; a message can take at most %(most)s. Shorten it by at "
        "least %(over)s.",
        parts=_parts(parts),
        most=most,
        over=_characters(over),
    )


def too_many_parts_at_shortest(parts: int, most: str) -> str:
    return _(
        "Even with the shortest fields this message takes %(parts)s; a message can take at "
        "most %(most)s. Shorten the text.",
        parts=_parts(parts),
        most=most,
    )


def too_many_parts_at_longest(parts: int, most: str) -> str:
    return _(
        "With the longest fields filled in, this message takes %(parts)s; a message can take "
        "at most %(most)s. Shorten the text, or use shorter fields.",
        parts=_parts(parts),
        most=most,
    )


def template_too_many_parts(parts: int, most: str) -> str:
    return _(
        "This text takes %(parts)s before its fields are filled in; a message can take at "
        "most %(most)s. Shorten it.",
        parts=_parts(parts),
        most=most,
    )


def name_too_long(most: int, has: int) -> str:
    return ngettext(
        "A campaign name can be at most %(count)s character; this one has %(has)s. Shorten it.",
        "A campaign name can be at most %(count)s characters; this one has %(has)s. Shorten it.",
        most,
        count=count(most),
        has=count(has),
    )


def link_too_long(most: int, has: int) -> str:
    return ngettext(
        "A WAP-push link can be at most %(count)s character; this one has %(has)s.",
        "A WAP-push link can be at most %(count)s characters; this one has %(has)s.",
        most,
        count=count(most),
        has=count(has),
    )


def not_a_field(name: str, fields: list[str]) -> str:
    return _(
        "{%(name)s} is not a field of the chosen lists. Their fields: %(fields)s.",
        name=name,
        fields=", ".join("{" + f + "}" for f in fields),
    )


def no_fields(name: str) -> str:
    return _(
        "{%(name)s} cannot be filled: placeholders come from the fields of contact lists, and "
        "no chosen list has fields (pasted numbers have none).",
        name=name,
    )


def empty_for_some(name: str, missing: int, recipients: int, pasted_only: bool) -> str:
    values = {"name": name, "missing": count(missing), "count": count(recipients)}
    if pasted_only:
        return ngettext(
            "{%(name)s} is empty for %(missing)s of %(count)s recipient (pasted numbers have no "
            "fields). Give it a fallback, like {%(name)s|friend}, remove it, or choose lists "
            "where every contact has it.",
            "{%(name)s} is empty for %(missing)s of %(count)s recipients (pasted numbers have no "
            "fields). Give it a fallback, like {%(name)s|friend}, remove it, or choose lists "
            "where every contact has it.",
            recipients,
            **values,
        )
    return ngettext(
        "{%(name)s} is empty for %(missing)s of %(count)s recipient. Give it a fallback, like "
        "{%(name)s|friend}, remove it, or choose lists where every contact has it.",
        "{%(name)s} is empty for %(missing)s of %(count)s recipients. Give it a fallback, like "
        "{%(name)s|friend}, remove it, or choose lists where every contact has it.",
        recipients,
        **values,
    )


def sender_cannot_send(name: str, status: str | None, info: str) -> str:
    """``status``, the name's state in words (None: the gateway does not list the name);
    ``info``, the gateway's note on it."""
    if status is None:
        return _(
            "The sender name %(name)s cannot send: the gateway does not list it. Choose an "
            "active one.",
            name=name,
        )
    if info:
        return _(
            "The sender name %(name)s cannot send (it is %(status)s: %(info)s). Choose an "
            "active one.",
            name=name,
            status=status,
            info=info,
        )
    return _(
        "The sender name %(name)s cannot send (it is %(status)s). Choose an active one.",
        name=name,
        status=status,
    )


def time_passed(now: str, zone: str) -> str:
    return _(
        "That time has already passed (it is now %(now)s in %(zone)s). Choose a later time, "
        "or send now.",
        now=now,
        zone=zone,
    )


# -- placeholder slips ---------------------------------------------------------------------------


def where(text: str, position: int) -> str:
    """Where a character is, in words: "character 12", or "line 2, character 5"."""
    line = text.count("\n", 0, position)
    column = count(position - (text.rfind("\n", 0, position) + 1) + 1)
    if line == 0 and "\n" not in text:
        return _("character %(column)s", column=column)
    return _("line %(line)s, character %(column)s", line=count(line + 1), column=column)


def _what(kind: str) -> str:
    return {
        "double": _("has double braces"),
        "extra_close": _("has an extra closing brace"),
        "unclosed": _("is not closed"),
        "empty": _("is empty"),
        "spaces": _("has spaces around the field's name"),
        "no_name": _("has no field name before the |"),
        "stray_close": _("is a closing brace without an opening one"),
    }[kind]


def _todo(found: Slip) -> str:
    if found.fix and found.kind == "unclosed":
        return _("write %(fix)s (a placeholder ends on the line it starts)", fix=found.fix)
    if found.fix:
        return _("write %(fix)s", fix=found.fix)
    if found.kind in ("empty", "no_name"):
        return _("put a field's name inside, like {name} or {name|friend}, or remove it")
    return _("braces are only for placeholders like {name}: remove it")


def slip(text: str, found: Slip) -> str:
    """A placeholder slip in plain words: what was typed, where, and how to write it."""
    shown = found.raw if len(found.raw) <= 40 else found.raw[:39] + "…"
    return _(
        "“%(typed)s” at %(where)s %(what)s: %(todo)s.",
        typed=shown,
        where=where(text, found.start),
        what=_what(found.kind),
        todo=_todo(found),
    )
