"""Texts shown later than they are made, in the language of whoever reads them.

A reason the worker writes (a campaign paused, an import failed, a balance not read) is read
later, by people who may each read another language than the one it was made in (the worker
has none). Such a text is made as a :class:`Text`: its English msgid and its parameters, not a
translation. ``str()`` translates it in the current language; :func:`stored` gives the form a
column keeps (the msgid alone when it has no parameters, else a small JSON object), and
:func:`shown` (the ``shown_text`` filter) translates a stored one for the person looking.

Rows written before this keep English sentences: :func:`shown` gives them as they are
(translated when the sentence is a msgid, as the parameterless ones are).

:func:`N_` and :func:`ngettext` are named so that pybabel's default keywords extract their
texts; unlike Flask-Babel's ``gettext`` and ``ngettext`` they translate nothing at once.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import Flask, current_app, has_app_context
from flask_babel import force_locale, get_locale, get_translations, gettext

# A stored text with parameters is a JSON object; its first key tells it from old sentences.
_MARK = '{"t":'


class Text:
    """A message to translate when it is shown: ``msgid`` (and ``plural`` with its count
    ``num``) with named ``params``, each a string, a whole number (written as the app writes
    counts) or another Text."""

    __slots__ = ("msgid", "num", "params", "plural")

    def __init__(
        self,
        msgid: str,
        params: Mapping[str, Any] | None = None,
        plural: str | None = None,
        num: int | None = None,
    ) -> None:
        self.msgid, self.plural, self.num = msgid, plural, num
        self.params = {key: _param(value) for key, value in (params or {}).items()}

    def __str__(self) -> str:
        values = {key: _shown_param(value) for key, value in self.params.items()}
        if self.plural is None:
            return gettext(self.msgid, **values) if values else gettext(self.msgid)
        # As Flask-Babel's ngettext, but %(num)s written as the app writes counts.
        num = int(self.num or 0)
        return get_translations().ungettext(self.msgid, self.plural, num) % {
            "num": _count(num),
            **values,
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Text) and self.data() == other.data()

    def __hash__(self) -> int:
        return hash(json.dumps(self.data(), sort_keys=True))

    def __repr__(self) -> str:
        return f"Text({self.data()!r})"

    def filled(self, **params: Any) -> Text:
        """This text with more parameters (a text written ahead of its values)."""
        return Text(self.msgid, {**self.params, **params}, self.plural, self.num)

    def data(self) -> dict[str, Any]:
        """The text as JSON-ready data (what :func:`stored` writes)."""
        data: dict[str, Any] = {"t": self.msgid}
        if self.plural is not None:
            data["p"], data["n"] = self.plural, self.num
        if self.params:
            data["a"] = {
                key: value.data() if isinstance(value, Text) else value
                for key, value in self.params.items()
            }
        return data

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Text:
        """The text :meth:`data` gave."""
        params = {
            key: cls.of(value) if isinstance(value, dict) else value
            for key, value in (data.get("a") or {}).items()
        }
        return cls(str(data["t"]), params, data.get("p"), data.get("n"))


F = TypeVar("F", bound=Callable[..., str])


def per_language(maxsize: int = 4096) -> Callable[[F], F]:
    """Remember what ``function`` wrote, by its arguments and the language it wrote in, for
    a function whose words depend on nothing else (a state's label, a status in words, an
    amount or a time as the page writes it). A table asks for the same few texts row after
    row: a translation looked up through Flask-Babel costs some tens of microseconds, a
    remembered one a dictionary lookup. Remembered per app, whose catalogues they come from
    (an app may have catalogues of its own, as tests' apps do); forgotten past ``maxsize``
    texts of a function. The arguments must be hashable."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def remembered(*args: Any, **kwargs: Any) -> str:
            if not has_app_context():
                return function(*args, **kwargs)
            memos = current_app.extensions.setdefault("texts.per_language", {})
            memo = memos.setdefault(function, {})
            key = (str(get_locale() or ""), args, tuple(kwargs.items()))
            try:
                return memo[key]
            except KeyError:
                pass
            text = function(*args, **kwargs)
            if len(memo) >= maxsize:
                memo.clear()
            memo[key] = text
            return text

        return remembered  # type: ignore[return-value]

    return decorate


def N_(msgid: str, **params: Any) -> Text:  # pybabel's keyword: the name matters
    """``msgid`` with ``params``, translated when shown."""
    return Text(msgid, params)


def ngettext(singular: str, plural: str, num: int, **params: Any) -> Text:
    """The singular or a plural form for ``num`` (``%(num)s`` in them), chosen and translated
    when shown."""
    return Text(singular, params, plural, num)


def stored(text: Text | str | None, limit: int | None = None) -> str:
    """The form a column keeps of ``text``, at most ``limit`` characters: its msgid when it
    has no parameters, else its JSON. Too long for the column, it is kept as English words
    (shown as they are, to everyone) rather than cut into broken JSON."""
    if text is None:
        return ""
    if not isinstance(text, Text):
        return text[:limit] if limit else text
    if not text.params and text.plural is None:
        kept = text.msgid
    else:
        kept = json.dumps(text.data(), ensure_ascii=False, separators=(",", ":"))
    if limit and len(kept) > limit:
        with force_locale("en"):
            return str(text)[:limit]
    return kept


def shown(value: Any) -> str:
    """A stored text (:func:`stored`), a Text, or an old row's English sentence, in the
    current language ("" for none)."""
    if value is None or value == "":
        return ""
    if isinstance(value, Text):
        return str(value)
    if not isinstance(value, str):
        return str(value)
    if value.startswith(_MARK):
        try:
            return str(Text.of(json.loads(value)))
        except (ValueError, KeyError, TypeError):
            return value  # not one of ours after all: as it is
    return gettext(value)


def _param(value: Any) -> Any:
    if isinstance(value, Text | str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    return str(value)


def _shown_param(value: Any) -> str:
    if isinstance(value, Text):
        return str(value)
    if isinstance(value, int):
        return _count(value)
    return value


def _count(value: int) -> str:
    # Imported here: webapp.formatting reaches the domain, which makes these texts.
    from webapp.formatting import count

    return count(value)


def init_app(app: Flask) -> None:
    """The ``shown_text`` filter: ``{{ campaign.pause_reason|shown_text }}``."""
    app.jinja_env.filters["shown_text"] = shown
