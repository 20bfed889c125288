"""Phone numbers as people type, paste and search them: normalised to the digits-only
international form the API wants (``79161234567``), split out of pasted text, and searched by
prefix. The one home of these rules: contacts, the stop list, CSV imports, the composer and the
message table all use them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import phonenumbers
from phonenumbers import PhoneMetadata
from sqlalchemy import ColumnElement, and_

from webapp.texts import N_

NOT_DIGITS = re.compile(r"\D")
# What people type around a number: spaces, dashes, dots, brackets, a leading plus.
PHONE_CHARACTERS = re.compile(r"[\d\s\-().+]+")
# Where one pasted number surely ends: new lines, tabs, commas, semicolons. Spaces are decided
# by what they separate (see ``split_pasted``).
PASTE_SEPARATORS = re.compile(r"[\r\n\t,;]+")
# At most this many space-separated groups make one number ("+7 (916) 123 45 67" is five).
MAX_GROUPS = 6
# A group with this many digits is a whole number by itself, never a part of one.
WHOLE_NUMBER_DIGITS = 7
# No number, with its international or trunk prefix, has more digits than this.
MAX_NUMBER_DIGITS = 17
# The longest phone the API takes is 15 digits; a longer prefix matches nothing anyway.
MAX_PREFIX_DIGITS = 16

# Why a text is not a phone, as people read it: English msgids, kept so (an import's report
# stores them) and translated where they are shown (webapp.texts.shown).
NO_PHONE = N_("no phone").msgid
NOT_A_PHONE = N_("not a phone number").msgid
NOT_VALID = N_("not a valid number").msgid


@dataclass(frozen=True, slots=True)
class PhoneResult:
    """A normalised phone (``79161234567``) or, when it cannot be one, why in plain words."""

    phone: str | None
    error: str | None = None


@cache
def _mobile_pattern(region: str) -> tuple[str, re.Pattern[str] | None]:
    metadata = PhoneMetadata.metadata_for_region(region.upper())
    if metadata is None or metadata.mobile is None or not metadata.mobile.national_number_pattern:
        return "", None
    return str(metadata.country_code), re.compile(metadata.mobile.national_number_pattern)


def _fast_mobile(text: str, digits: str, region: str) -> str | None:
    """The phone of a common mobile number by the region's mobile pattern, else None."""
    country_code, mobile = _mobile_pattern(region)
    if mobile is None:
        return None
    national = None
    if text.startswith("+") or (digits.startswith(country_code) and len(digits) > 10):
        if digits.startswith(country_code):
            national = digits[len(country_code) :]
    elif region.upper() == "RU" and len(digits) == 11 and digits[0] == "8":
        national = digits[1:]  # Russia's trunk prefix: 8 916 ... is +7 916 ...
    elif len(digits) == 10:
        national = digits
    if national and mobile.fullmatch(national):
        return country_code + national
    return None


def normalize_phone(raw: str, region: str = "RU") -> PhoneResult:
    """Normalise a phone as typed or found in a CSV, reading national forms in ``region``.

    Common mobile numbers take a fast path over the region's mobile pattern (imports read
    millions); anything else goes through the full ``phonenumbers`` rules.
    """
    text = (raw or "").strip()
    if not text:
        return PhoneResult(None, NO_PHONE)
    if not PHONE_CHARACTERS.fullmatch(text):
        return PhoneResult(None, NOT_A_PHONE)
    fast = _fast_mobile(text, NOT_DIGITS.sub("", text), region)
    if fast is not None:
        return PhoneResult(fast)
    try:
        number = phonenumbers.parse(text, region.upper())
    except phonenumbers.NumberParseException:
        return PhoneResult(None, NOT_A_PHONE)
    if not phonenumbers.is_valid_number(number):
        return PhoneResult(None, NOT_VALID)
    # E.164 keeps national leading zeros (Italy) that national_number drops.
    return PhoneResult(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:])


# -- pasted numbers ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pasted:
    """One number out of pasted text: as given, and its phone or why it is none."""

    given: str
    phone: str | None
    reason: str | None = None


def split_pasted(text: str | None, region: str) -> list[Pasted]:
    """Pasted numbers, in order: one per line, or separated by tabs, commas or semicolons.

    Spaces separate complete numbers ("79161234567 79161234568" is two) but not the groups of
    one number ("+7 916 123-45-67" is one): groups that each have the digits of a whole number
    are numbers each; others are read as the complete numbers they make, and a piece that
    makes none is one invalid entry.
    """
    items: list[Pasted] = []
    for piece in PASTE_SEPARATORS.split(text or ""):
        piece = piece.strip()
        if piece:
            items += _split_spaces(piece, region)
    return items


def _split_spaces(piece: str, region: str) -> list[Pasted]:
    whole = _pasted(piece, region)
    groups = piece.split()
    if whole.phone is not None or len(groups) == 1:
        return [whole]
    if all(len(NOT_DIGITS.sub("", g)) >= WHOLE_NUMBER_DIGITS for g in groups):
        return [_pasted(g, region) for g in groups]
    numbers = _complete_numbers(groups, region)
    return [whole] if numbers is None else numbers


def _pasted(given: str, region: str) -> Pasted:
    result = normalize_phone(given, region)
    return Pasted(given, result.phone, result.error)


def _complete_numbers(groups: list[str], region: str) -> list[Pasted] | None:
    """``groups`` read as consecutive complete numbers (the longest first at each place), or
    None when some place starts no number."""
    digits = [len(NOT_DIGITS.sub("", g)) for g in groups]
    found: list[Pasted] = []
    start = 0
    while start < len(groups):
        for end in range(min(len(groups), start + MAX_GROUPS), start, -1):
            if sum(digits[start:end]) > MAX_NUMBER_DIGITS:
                continue  # too long to be one number: not worth asking phonenumbers
            item = _pasted(" ".join(groups[start:end]), region)
            if item.phone is not None:
                found.append(item)
                start = end
                break
        else:
            return None
    return found


# -- searching by prefix -------------------------------------------------------------------------


def phone_prefix(query: str | None) -> str:
    """The digits to search by: what was typed without spaces, dashes, brackets or "+". A
    Russian mobile typed in the domestic way (8 9...) is searched as 7 9..., as stored."""
    digits = NOT_DIGITS.sub("", query or "")[:MAX_PREFIX_DIGITS]
    if digits.startswith("89"):
        digits = "7" + digits[1:]
    return digits


def after_prefix(prefix: str) -> str | None:
    """The smallest digit string greater than every string starting with ``prefix``
    ("7916" -> "7917", "79" -> "8", "99" -> None), so that a prefix search is an index range
    that holds in any collation (digits sort alike in all of them)."""
    digits = prefix.rstrip("9")
    if not digits:
        return None
    return digits[:-1] + str(int(digits[-1]) + 1)


def starts_with(column: ColumnElement[str], prefix: str) -> ColumnElement[bool]:
    """``column`` (a phone) starts with the digits ``prefix``: a range, not LIKE, so that it
    uses the phone's index under any collation."""
    upper = after_prefix(prefix)
    if upper is None:
        return column >= prefix
    return and_(column >= prefix, column < upper)


def looks_like_phone(query: str | None) -> bool:
    """Whether a search is for a phone (digits and what people type around them), not a name."""
    text = (query or "").strip()
    return (
        bool(text)
        and PHONE_CHARACTERS.fullmatch(text) is not None
        and any(c.isdigit() for c in text)
    )
