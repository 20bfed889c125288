"""Text and phone rules of the product: part counting (from the API binding) and phone numbers
normalised to the digits-only international form the API wants."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import phonenumbers
from phonenumbers import PhoneMetadata

from webapp.iqsms.parts import TextInfo, analyse, count_parts

__all__ = ["PhoneResult", "TextInfo", "analyse", "count_parts", "normalize_phone"]

NOT_DIGITS = re.compile(r"\D")
# What people type around a number: spaces, dashes, dots, brackets, a leading plus.
PHONE_CHARACTERS = re.compile(r"[\d\s\-().+]+")


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


def normalize_phone(raw: str, region: str = "RU") -> PhoneResult:
    """Normalise a phone as typed or found in a CSV, reading national forms in ``region``.

    Common mobile numbers take a fast path over the region's mobile pattern (imports read
    millions); anything else goes through the full ``phonenumbers`` rules.
    """
    text = (raw or "").strip()
    if not text:
        return PhoneResult(None, "empty")
    if not PHONE_CHARACTERS.fullmatch(text):
        return PhoneResult(None, "not a phone number")
    digits = NOT_DIGITS.sub("", text)
    country_code, mobile = _mobile_pattern(region)
    if mobile is not None:
        national = None
        if text.startswith("+") or (digits.startswith(country_code) and len(digits) > 10):
            if digits.startswith(country_code):
                national = digits[len(country_code) :]
        elif region.upper() == "RU" and len(digits) == 11 and digits[0] == "8":
            national = digits[1:]  # Russia's trunk prefix: 8 916 ... is +7 916 ...
        elif len(digits) == 10:
            national = digits
        if national and mobile.fullmatch(national):
            return PhoneResult(country_code + national)
    try:
        number = phonenumbers.parse(text, region.upper())
    except phonenumbers.NumberParseException:
        return PhoneResult(None, "not a phone number")
    if not phonenumbers.is_valid_number(number):
        return PhoneResult(None, "not a valid number")
    # E.164 keeps national leading zeros (Italy) that national_number drops.
    return PhoneResult(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:])
