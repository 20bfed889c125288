"""The fields a campaign's placeholders are filled from, over its recipients: how many lack each
one, and the fewest and most parts the rendered texts can take.

Read from the lists' field statistics (:mod:`webapp.domain.field_stats`) when they are known:
then the cost does not grow with the placeholders (at most :data:`MAX_PLACEHOLDERS` of them) nor
with the contacts' fields; only the stopped contacts and the extra contacts of phones in several
chosen lists are read. Otherwise (statistics not known yet, or lists that mostly repeat each
other) the recipients' fields are read once, in one pass, for every placeholder at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.domain import field_stats, placeholders, recipients
from webapp.domain.field_stats import FieldFacts
from webapp.iqsms.parts import GSM7_PART, GSM7_SINGLE, UCS2_PART, UCS2_SINGLE, analyse
from webapp.models import Contact, ContactList, StopListEntry

# Distinct placeholders a text may use: each is a field looked up for every recipient.
MAX_PLACEHOLDERS = 20
# Placeholders a text may hold in all (one name used many times included): each is a piece of
# the SQL expression that writes every message when the campaign is sent.
MAX_PLACEHOLDER_USES = 50
STREAM_ROWS = 10_000


def field_facts(
    session: Session, team_id: int, found: recipients.Recipients, names: Sequence[str]
) -> dict[str, FieldFacts]:
    """Each named field over the recipients (pasted numbers have no fields at all)."""
    facts = {name: FieldFacts() for name in names}
    listed = bool(names and found.list_ids and found.from_lists)
    if listed and not _from_statistics(session, team_id, found, facts):
        facts = {name: FieldFacts() for name in names}
        _row_by_row(session, team_id, found, facts)
    for fact in facts.values():
        fact.missing += len(found.pasted_only)
    return facts


def _from_statistics(
    session: Session, team_id: int, found: recipients.Recipients, facts: dict[str, FieldFacts]
) -> bool:
    """Fill ``facts`` from the lists' statistics; False when they cannot tell (not known, or
    more than MAX_OVERLAP phones in several of the lists).

    The statistics count every contact of each list. Taken out again: the contacts of stopped
    phones, and, for a phone in several chosen lists, every contact but its first (whose fields
    it gets); both are read by index, so the cost follows the few taken out, not the lists.
    """
    lists = session.scalars(
        select(ContactList).where(
            ContactList.team_id == team_id, ContactList.id.in_(found.list_ids)
        )
    ).all()
    known = [field_stats.trusted(session, row) for row in lists]
    if any(stats is None for stats in known):
        return False
    taken_out = _stopped_fields(session, team_id, found)
    if len(lists) > 1:
        repeated = _repeated_fields(session, team_id, found)
        if repeated is None:
            return False
        taken_out += repeated
    if sum(stats["count"] for stats in known) != found.from_lists + len(taken_out):
        return False  # the statistics and the contacts disagree: count row by row
    for stats in known:
        for name, fact in facts.items():
            if name in stats["fields"]:
                fact.take(stats["fields"][name])
    for fields in taken_out:
        for name, fact in facts.items():
            fact.drop_value((fields or {}).get(name))
    for fact in facts.values():
        fact.missing = found.from_lists - fact.filled
    return True


# Phones in several chosen lists whose extra contacts are taken out of the lists' statistics one
# by one; past this many, the recipients are read row by row instead.
MAX_OVERLAP = 50_000


def _stopped_fields(session: Session, team_id: int, found: recipients.Recipients) -> list:
    """The fields of every contact of a stopped phone in the lists (from the stop list's side,
    each by the lists' phone index)."""
    if not found.stopped_in_lists:
        return []
    stopped = (
        select(Contact.fields)
        .select_from(StopListEntry)
        .join(Contact, Contact.phone == StopListEntry.phone)
        .where(StopListEntry.team_id == team_id, recipients.in_lists(team_id, found.list_ids))
    )
    return list(session.scalars(stopped))


def _repeated_fields(session: Session, team_id: int, found: recipients.Recipients) -> list | None:
    """The fields of the contacts, not stopped, that are not their phone's first in the lists
    (the phone is in several of them); None when there are more than MAX_OVERLAP."""
    repeated = (
        select(Contact.fields)
        .where(
            recipients.in_lists(team_id, found.list_ids),
            Contact.id.not_in(recipients.first_contacts(team_id, found.list_ids)),
            recipients.not_stopped(team_id, Contact.phone),
        )
        .limit(MAX_OVERLAP + 1)
    )
    rows = list(session.scalars(repeated))
    return None if len(rows) > MAX_OVERLAP else rows


def _row_by_row(
    session: Session, team_id: int, found: recipients.Recipients, facts: dict[str, FieldFacts]
) -> None:
    """Read every recipient's fields once (its first contact's), for all placeholders."""
    rows = (
        select(Contact.fields)
        .where(
            Contact.id.in_(recipients.first_contacts(team_id, found.list_ids)),
            recipients.not_stopped(team_id, Contact.phone),
        )
        .execution_options(yield_per=STREAM_ROWS)
    )
    for fields in session.scalars(rows):
        fields = fields or {}
        for name, fact in facts.items():
            fact.take_value(fields.get(name))


# -- parts of texts rendered for many recipients -------------------------------------------------


def _parts(units: int, ucs2: bool) -> int:
    single, per_part = (UCS2_SINGLE, UCS2_PART) if ucs2 else (GSM7_SINGLE, GSM7_PART)
    if units == 0:
        return 0
    return 1 if units <= single else math.ceil(units / per_part)


def parts_range(
    template: str, facts: dict[str, FieldFacts], found: recipients.Recipients
) -> tuple[int, int]:
    """Fewest and most parts a message of this campaign can take.

    Without placeholders every message has the template's parts. With them, each field's
    shortest and longest values (and whether any value forces UCS-2) bound the rendered texts,
    and a placeholder's fallback stands in for the recipients who lack the field: the upper
    bound may be above the true maximum, never below, so the estimate errs high.
    """
    parsed = placeholders.parse(template)
    if not parsed.names or not found.list_ids:
        parts = analyse(parsed.render({})).parts
        return parts, parts
    bare = parsed.bare
    bare_info = analyse(bare)
    low_gsm = high_gsm = bare_info.units if bare_info.encoding == "GSM-7" else 0
    low_ucs = high_ucs = len(bare.encode("utf-16-le")) // 2
    ucs2_possible = ucs2_always = bare_info.encoding == "UCS-2"
    for placeholder in parsed.placeholders:
        bounds = _value_bounds(facts.get(placeholder.name) or FieldFacts(), placeholder.fallback)
        if bounds is None:  # nobody has it and there is no fallback: it renders empty
            continue
        min_gsm, max_gsm, min_ucs, max_ucs, possible, always = bounds
        ucs2_possible |= possible
        ucs2_always |= always
        low_gsm += min_gsm
        high_gsm += max_gsm
        low_ucs += min_ucs
        high_ucs += max_ucs
    low = _parts(low_ucs, True) if ucs2_always else _parts(low_gsm, False)
    high = max(_parts(high_ucs, True) if ucs2_possible else 0, _parts(high_gsm, False))
    return low, high


def _value_bounds(
    fact: FieldFacts, fallback: str | None
) -> tuple[int, int, int, int, bool, bool] | None:
    """What one placeholder adds to a rendered text: shortest and longest in GSM-7 septets and
    in UTF-16 units, whether it can force UCS-2 and whether it always does. Recipients who
    lack the field get the fallback (or nothing)."""
    values = fact.max_gsm is not None
    lacking = fact.missing > 0 or not values
    if not values and not fallback:
        return None
    spare = field_stats.value_facts(fallback) if fallback else (0, 0, False)
    gsm, ucs, always = [], [], []
    if values:
        gsm += [fact.min_gsm or 0, fact.max_gsm or 0]
        ucs += [fact.min_utf16 or 0, fact.max_utf16 or 0]
        always.append(fact.ucs2 == fact.filled > 0)
    if lacking:
        gsm.append(spare[0])
        ucs.append(spare[1])
        always.append(spare[2])
    possible = fact.ucs2 > 0 or (lacking and spare[2])
    return min(gsm), max(gsm), min(ucs), max(ucs), possible, all(always)
