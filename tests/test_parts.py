"""Part counting: GSM-7 and UCS-2, extension characters, surrogate pairs, boundary lengths."""

import pytest

from webapp.iqsms import analyse, count_parts


@pytest.mark.parametrize(
    ("text", "encoding", "units", "parts"),
    [
        ("", "GSM-7", 0, 0),
        ("Hello", "GSM-7", 5, 1),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("{" * 80, "GSM-7", 160, 1),  # extension characters count twice
        ("{" * 81, "GSM-7", 162, 2),
        ("Price: 5€ [promo] ^_^ ~|\\", "GSM-7", 33, 1),
        ("Привет", "UCS-2", 6, 1),
        ("я" * 70, "UCS-2", 70, 1),
        ("я" * 71, "UCS-2", 71, 2),
        ("я" * 134, "UCS-2", 134, 2),
        ("я" * 135, "UCS-2", 135, 3),
        ("😀" * 35, "UCS-2", 70, 1),  # outside the BMP: a surrogate pair each
        ("😀" * 36, "UCS-2", 72, 2),
        ("a" * 159 + "é", "GSM-7", 160, 1),  # é is in the GSM basic set
        ("a" * 159 + "ê", "UCS-2", 160, 3),  # ê is not: the whole text turns UCS-2
    ],
)
def test_encoding_units_and_parts(text, encoding, units, parts):
    info = analyse(text)
    assert (info.encoding, info.units, info.parts) == (encoding, units, parts)
    assert count_parts(text) == parts


def test_escaped_character_is_never_split_between_parts():
    # 306 septets would fit two parts of 153, but "{" cannot straddle the first boundary.
    text = "a" * 152 + "{" + "a" * 152
    assert analyse(text).units == 306
    assert analyse(text).parts == 3


def test_surrogate_pair_is_never_split_between_parts():
    text = "я" * 66 + "😀" + "я" * 66  # 134 units: two parts only if the emoji could be split
    assert analyse(text).units == 134
    assert analyse(text).parts == 3


def test_remaining_room_in_the_last_part():
    assert analyse("Hello").remaining == 155
    assert analyse("a" * 161).remaining == 153 * 2 - 161
    assert analyse("Привет").remaining == 64
    assert analyse("").remaining == 160


def test_points_at_the_characters_that_force_ucs2():
    assert analyse("Hello “world” — ok").ucs2_chars == ("“", "”", "—")
    assert analyse("Sale Ω ends soon").ucs2_chars == ()  # Ω is in GSM-7
    assert analyse("Скидка 10%").ucs2_chars == ("С", "к", "и", "д", "а")
