"""The gateway's words as people read them: its per-message statuses, its error descriptions
and the states of sender names, in the reader's language, with the raw string beside them
where support needs it («номер неверный (invalid mobile phone)»).

webapp.iqsms keeps the raw vocabulary and what each word means in English (marked for the
catalogue); it knows nothing of languages. Every page, mail and stored reason that shows one
of the gateway's words goes through here; a word this app does not know is shown as it came.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import pgettext

from webapp import texts
from webapp.iqsms.statuses import ERROR_MEANINGS, SenderStatus, describe

# What the app writes where a message's gateway status goes when the gateway gave none; each
# is its own msgid, stored as it is (webapp/domain/sending.py, send_calls.py).
WORKER_STOPPED = texts.N_("no reply: the worker stopped during the request")
NO_STATUS_IN_REPLY = texts.N_("no status in the gateway's reply")
OWN_NOTES = {note.msgid: note for note in (WORKER_STOPPED, NO_STATUS_IN_REPLY)}


def status_text(status: str | None) -> texts.Text | str:
    """A message's gateway status in words: a known status's meaning with the status beside
    it («delivered to the phone (delivered)»), one of the app's own notes, or an unknown
    string as it came ("" for none). Translated when shown (``str()``)."""
    raw = (status or "").strip()
    if not raw:
        return ""
    if raw in OWN_NOTES:
        return OWN_NOTES[raw]
    info = describe(raw)
    if not info.known:
        return raw
    return texts.N_("%(meaning)s (%(status)s)", meaning=texts.Text(info.meaning), status=raw)


@texts.per_language()
def status_words(status: str | None) -> str:
    """:func:`status_text` as the reader reads it (a table asks for it row after row)."""
    return str(status_text(status))


def error_text(description: str | None) -> texts.Text | str:
    """An error reply's description in words, with the description beside it («wrong login
    or password (error authorization)»); an unknown one as it came."""
    raw = (description or "").strip()
    meaning = ERROR_MEANINGS.get(raw.lower())
    if meaning is None:
        return raw
    return texts.N_("%(meaning)s (%(status)s)", meaning=texts.Text(meaning), status=raw)


def sender_status_text(status: str | None) -> str:
    """A sender name's state as the gateway reports it (active, pending...), translated; an
    unknown one as it came."""
    labels = {
        SenderStatus.ACTIVE: pgettext("sender name", "active"),
        SenderStatus.DEFAULT: pgettext("sender name", "default"),
        SenderStatus.NEW: pgettext("sender name", "new"),
        SenderStatus.PENDING: pgettext("sender name", "pending"),
        SenderStatus.BLOCKED: pgettext("sender name", "blocked"),
    }
    return labels.get((status or "").strip().lower(), status or "")


# What the built-in sandbox says of the sender names it has (webapp/sandbox/accounts.py; a test
# holds the two in step). The real gateway writes its notes in Russian: shown as they came.
SENDER_NOTES = {
    note.msgid: note
    for note in (
        texts.N_("awaiting the operators' approval"),
        texts.N_("the name of a mobile operator cannot be used"),
    )
}


def sender_note(info: str | None) -> str:
    """The gateway's note on a sender name, in the reader's language when it is one the app
    knows; else as the gateway wrote it."""
    raw = (info or "").strip()
    return str(SENDER_NOTES[raw]) if raw in SENDER_NOTES else raw


def init_app(app: Flask) -> None:
    """The template filters: ``{{ m.gateway_status|gateway_status }}``,
    ``{{ s.status|sender_status }}``."""
    app.jinja_env.filters["gateway_status"] = status_words
    app.jinja_env.filters["sender_status"] = sender_status_text
    app.jinja_env.filters["sender_note"] = sender_note
