"""zxcvbn's feedback on a weak password, in the reader's language.

zxcvbn writes its warnings and suggestions in English (through the standard library's gettext,
which this app does not feed). Its sentences are listed here, so that the catalogue holds them,
and each is translated as it is shown; one a later zxcvbn adds is shown as it comes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import gettext

from webapp.texts import N_

# zxcvbn 4.x's sentences (zxcvbn/feedback.py), exactly: each is looked up as it comes.
SENTENCES = (
    N_("Use a few words, avoid common phrases."),
    N_("No need for symbols, digits, or uppercase letters."),
    N_("Add another word or two. Uncommon words are better."),
    N_("Straight rows of keys are easy to guess."),
    N_("Short keyboard patterns are easy to guess."),
    N_("Use a longer keyboard pattern with more turns."),
    N_('Repeats like "aaa" are easy to guess.'),
    N_('Repeats like "abcabcabc" are only slightly harder to guess than "abc".'),
    N_("Avoid repeated words and characters."),
    N_('Sequences like "abc" or "6543" are easy to guess.'),
    N_("Avoid sequences."),
    N_("Recent years are easy to guess."),
    N_("Avoid recent years."),
    N_("Avoid years that are associated with you."),
    N_("Dates are often easy to guess."),
    N_("Avoid dates and years that are associated with you."),
    N_("This is a top-10 common password."),
    N_("This is a top-100 common password."),
    N_("This is a very common password."),
    N_("This is similar to a commonly used password."),
    N_("A word by itself is easy to guess."),
    N_("Names and surnames by themselves are easy to guess."),
    N_("Common names and surnames are easy to guess."),
    N_("Capitalization doesn't help very much."),
    N_("All-uppercase is almost as easy to guess as all-lowercase."),
    N_("Reversed words aren't much harder to guess."),
    N_("Predictable substitutions like '@' instead of 'a' don't help very much."),
)


def feedback_text(feedback: Mapping[str, Any]) -> str:
    """zxcvbn's warning (else its suggestions) in the current language; "" when it has none."""
    if warning := feedback.get("warning"):
        return gettext(warning)
    return " ".join(gettext(s) for s in feedback.get("suggestions") or [] if s)
