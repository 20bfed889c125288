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

from webapp.domain import field_stats, recipients
from webapp.domain.field_stats import FieldFacts
from webapp.iqsms.parts import GSM7_PART, GSM7_SINGLE, UCS2_PART, UCS2_SINGLE, analyse
from webapp.models import Contact, ContactList, StopListEntry

# Distinct placeholders a text may use: each is a field looked up for every recipient.
MAX_PLACEHOLDERS = 20
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
    shortest and longest values (and whether any value forces UCS-2) bound the rendered texts:
    the upper bound may be above the true maximum, never below, so the estimate errs high.
    """
    names = recipients.placeholders(template)
    if not names or not found.list_ids:
        parts = analyse(recipients.render(template, {})).parts
        return parts, parts
    bare = recipients.PLACEHOLDER.sub("", template)
    bare_info = analyse(bare)
    occurrences = dict.fromkeys(names, 0)
    for match in recipients.PLACEHOLDER.finditer(template):
        occurrences[match.group(1).strip()] += 1
    low_gsm = high_gsm = bare_info.units if bare_info.encoding == "GSM-7" else 0
    low_ucs = high_ucs = len(bare.encode("utf-16-le")) // 2
    ucs2_possible = ucs2_always = bare_info.encoding == "UCS-2"
    for name in names:
        fact = facts.get(name) or FieldFacts()
        if fact.max_gsm is None:  # nobody has it: it renders empty
            continue
        ucs2_possible |= fact.ucs2 > 0
        ucs2_always |= fact.all_ucs2
        n = occurrences[name]
        empty = fact.missing > 0  # some get it empty: the shortest value is ""
        low_gsm += 0 if empty else n * (fact.min_gsm or 0)
        high_gsm += n * fact.max_gsm
        low_ucs += 0 if empty else n * (fact.min_utf16 or 0)
        high_ucs += n * (fact.max_utf16 or 0)
    if found.pasted_only:  # they get the bare text (and are refused anyway: no fields)
        ucs2_always = bare_info.encoding == "UCS-2"
    low = _parts(low_ucs, True) if ucs2_always else _parts(low_gsm, False)
    high = max(_parts(high_ucs, True) if ucs2_possible else 0, _parts(high_gsm, False))
    return low, high
