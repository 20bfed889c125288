"""CSV uploads into contact lists, the worker's side: claiming queued imports and streaming
each into its list, with the report of invalid rows. The person's side (the upload, its
preview, starting it) is :mod:`webapp.domain.csv_preview`.

Nothing here reads a file whole: the import decodes line by line and inserts 5,000 rows per
statement. A line that is not valid in the detected encoding makes its row invalid
("unreadable characters") instead of failing the whole file.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from webapp import csv_writer, texts
from webapp.domain.contacts import add_phones, merge_field_names, remove_upload
from webapp.domain.csv_preview import CsvError, column_name
from webapp.models import ContactImport, ContactList, ImportState, Team
from webapp.phones import normalize_phone

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]

CHUNK_ROWS = 5000
# A line longer than this is not a contact: the file is refused rather than read into memory.
MAX_LINE_BYTES = 1024 * 1024
# A running import that has not moved for this long lost its worker; another may take it over.
ABANDONED_AFTER = timedelta(minutes=10)
SHOWN_INVALID_ROWS = 20
# Why a row is invalid besides its phone (webapp/phones.py says why a phone is not one).
UNREADABLE = texts.N_("unreadable characters")


# -- the import ----------------------------------------------------------------------------------


def claim_import(session: Session, import_id: int, now: datetime) -> bool:
    """Take an import for this worker: queued, or running but abandoned. One UPDATE with the
    condition in its WHERE, so of two workers racing exactly one gets rowcount 1."""
    result = session.execute(
        update(ContactImport)
        .where(
            ContactImport.id == import_id,
            or_(
                ContactImport.state == ImportState.QUEUED,
                (ContactImport.state == ImportState.RUNNING)
                & (ContactImport.claimed_at < now - ABANDONED_AFTER),
            ),
        )
        .values(state=ImportState.RUNNING, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount == 1


def claimable_imports(session: Session, now: datetime, limit: int = 10) -> list[int]:
    """Ids of imports waiting for a worker, oldest first."""
    return list(
        session.scalars(
            select(ContactImport.id)
            .where(
                or_(
                    ContactImport.state == ImportState.QUEUED,
                    (ContactImport.state == ImportState.RUNNING)
                    & (ContactImport.claimed_at < now - ABANDONED_AFTER),
                )
            )
            .order_by(ContactImport.id)
            .limit(limit)
        )
    )


class LostClaim(Exception):
    """Another worker took the import over (this one looked abandoned); stop quietly."""


class DecodedLines:
    """Lines of a binary file decoded one at a time, for ``csv.reader``.

    ``bad`` turns true when a line since the last ``reset()`` did not decode; such a line is
    decoded with replacement characters so the reader keeps its place.
    """

    def __init__(self, f: BinaryIO, encoding: str) -> None:
        self.f = f
        self.encoding = encoding
        self.bad = False

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        raw = self.f.readline(MAX_LINE_BYTES)
        if not raw:
            raise StopIteration
        if len(raw) == MAX_LINE_BYTES and not raw.endswith(b"\n"):
            raise CsvError(
                texts.N_("A line of the file is longer than 1 MB: this is not a contacts CSV.")
            )
        try:
            return raw.decode(self.encoding)
        except UnicodeDecodeError:
            self.bad = True
            return raw.decode(self.encoding, errors="replace")

    def reset(self) -> bool:
        bad, self.bad = self.bad, False
        return bad


class ImportRun:
    """One run of an import: reads the file and writes chunks, reporting after each."""

    def __init__(
        self, session: Session, contact_import: ContactImport, upload_root: Path, clock: Clock
    ) -> None:
        self.session = session
        self.imp = contact_import
        self.upload_root = upload_root
        self.clock = clock
        self.claimed_at = contact_import.claimed_at
        self.contact_list = session.get(ContactList, contact_import.list_id)
        team = session.get(Team, contact_import.team_id)
        self.region = team.phone_region if team is not None else "RU"

    def run(self) -> None:
        imp = self.imp
        # A re-run starts the report afresh; contacts already added are skipped as duplicates.
        self._save(rows_read=0, added=0, duplicates=0, invalid=0, invalid_report="")
        path = self.upload_root / imp.stored_path
        if not path.exists():
            raise CsvError(texts.N_("The uploaded file is gone. Upload it again."))
        with open(path, "rb") as f:
            lines = DecodedLines(f, imp.encoding)
            reader = csv.reader(lines, delimiter=imp.delimiter)
            header = self._header(reader, lines)
            column = imp.phone_column or 0
            if column >= len(header):
                raise CsvError(texts.N_("The chosen phone column is not in the file's header."))
            fields = [(i, name) for i, name in enumerate(header) if i != column and name]
            merge_field_names(self.contact_list, [n for _, n in fields])
            self._read(reader, lines, column, len(header), fields)

    def _header(self, reader: Iterator[list[str]], lines: DecodedLines) -> list[str]:
        for row in reader:
            lines.reset()
            if any(c.strip() for c in row):
                return [column_name(c) for c in row]
        raise CsvError(texts.N_("The file is empty: it has no header row."))

    def _read(
        self,
        reader: Any,  # a csv.reader (its type is private)
        lines: DecodedLines,
        column: int,
        columns: int,
        fields: list[tuple[int, str]],
    ) -> None:
        phones: list[tuple[str, dict[str, str]]] = []
        invalid: list[tuple[int, str, str]] = []
        read = 0
        for row in reader:
            row_number = reader.line_num  # the file's line (where a quoted field ends)
            unreadable = lines.reset()
            if not any(c.strip() for c in row):
                continue  # blank lines are not rows
            read += 1
            given = row[column].strip() if column < len(row) else ""
            # Each reason kept untranslated, shown in the reader's language (webapp/texts.py).
            if unreadable:
                invalid.append((row_number, given, texts.stored(UNREADABLE)))
            elif len(row) < columns:
                few = texts.N_(
                    "too few columns (%(found)s, the header has %(columns)s)",
                    found=len(row),
                    columns=columns,
                )
                invalid.append((row_number, given, texts.stored(few)))
            else:
                result = normalize_phone(given, self.region)
                if result.phone is None:
                    invalid.append((row_number, given, result.error))
                else:
                    phones.append((result.phone, {name: row[i].strip() for i, name in fields}))
            if read % CHUNK_ROWS == 0:
                self._write(read, phones, invalid)
                phones, invalid, read = [], [], 0
        if not self.imp.rows_read and not read:
            raise CsvError(texts.N_("The file has a header but no rows."))
        self._write(read, phones, invalid)

    def _write(
        self, read: int, phones: list[tuple[str, dict[str, str]]], invalid: list[tuple]
    ) -> None:
        added = add_phones(self.session, self.contact_list, phones, self.clock())
        # Stored as written (not made safe): the download makes it safe as it writes it out.
        report = "".join(csv_writer.lines(invalid, safe=False))
        imp = ContactImport
        self._save(
            rows_read=imp.rows_read + read,
            added=imp.added + added,
            duplicates=imp.duplicates + len(phones) - added,
            invalid=imp.invalid + len(invalid),
            invalid_report=imp.invalid_report + report,
        )

    def _save(self, **values) -> None:
        """Update the import's counters and commit (so its page shows progress), renewing the
        claim; LostClaim if another worker took the import over meanwhile."""
        now = self.clock()
        result = self.session.execute(
            update(ContactImport)
            .where(
                ContactImport.id == self.imp.id,
                ContactImport.state == ImportState.RUNNING,
                ContactImport.claimed_at == self.claimed_at,
            )
            .values(claimed_at=now, **values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            self.session.rollback()
            raise LostClaim
        self.session.commit()
        self.claimed_at = now
        self.session.refresh(self.imp)


def run_import(session: Session, import_id: int, upload_root: Path, clock: Clock) -> None:
    """Read a claimed import's file into its list, then mark it done (or failed, with the
    reason in plain words) and delete the upload."""
    contact_import = session.get(ContactImport, import_id)
    if contact_import is None:
        return
    stored_path = contact_import.stored_path
    run = ImportRun(session, contact_import, upload_root, clock)
    state, error = ImportState.DONE, ""
    try:
        run.run()
    except LostClaim:
        return
    except (CsvError, csv.Error) as exc:
        session.rollback()
        state, error = ImportState.FAILED, _plain(exc)
    except Exception:
        session.rollback()
        log.exception("contact import %s failed", import_id)
        state = ImportState.FAILED
        error = texts.N_(
            "The import stopped on an unexpected error. Upload the file again to retry."
        )
    result = session.execute(
        update(ContactImport)
        .where(ContactImport.id == import_id, ContactImport.claimed_at == run.claimed_at)
        .values(state=state, error=texts.stored(error, 500), finished_at=clock())
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if result.rowcount == 1:
        remove_upload(upload_root, stored_path)


def _plain(exc: Exception) -> texts.Text | str:
    if isinstance(exc, CsvError):
        return exc.text
    return texts.N_("The file is not a valid CSV: %(problem)s.", problem=str(exc))


def process_imports(session: Session, upload_root: Path, clock: Clock) -> int:
    """The worker's tick: claim waiting imports one at a time and run each; returns how many
    this worker ran."""
    ran = 0
    while True:
        now = clock()
        claimed = next(
            (i for i in claimable_imports(session, now) if claim_import(session, i, now)), None
        )
        if claimed is None:
            return ran
        run_import(session, claimed, upload_root, clock)
        ran += 1


# -- the report of invalid rows ------------------------------------------------------------------


def first_invalid_rows(report: str | None, limit: int = SHOWN_INVALID_ROWS) -> list[list[str]]:
    """The first rows of an import's invalid-rows report (row, phone, reason), for its page,
    the reasons in the reader's language."""
    lines = io.StringIO(report or "", newline="")
    return [_shown_row(row) for row in itertools.islice(csv.reader(lines), limit)]


def invalid_rows_table(report: str | None, header: list[str]) -> Iterator[list[str]]:
    """The invalid-rows download: ``header`` (in the reader's language), then every row of
    the report."""
    yield header
    yield from map(_shown_row, csv.reader(io.StringIO(report or "", newline="")))


def _shown_row(row: list[str]) -> list[str]:
    """A report row with its reason (kept untranslated) in the reader's language."""
    return [*row[:2], texts.shown(row[2]), *row[3:]] if len(row) > 2 else row
