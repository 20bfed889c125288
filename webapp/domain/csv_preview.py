"""CSV uploads, the person's side: storing the upload, sniffing it for the preview, starting
or cancelling its import, and the imports a list shows. The worker's side, reading the file into
the list, is :mod:`webapp.domain.csv_import`.

Nothing here reads a file whole: the upload is copied to disk in blocks and the preview reads the
first 64 KB.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, BinaryIO

from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp import texts
from webapp.domain.audit import record
from webapp.domain.contacts import remove_upload
from webapp.formatting import count
from webapp.models import ContactImport, ContactList, ImportState, User
from webapp.phones import normalize_phone
from webapp.sizes import shown

SNIFF_BYTES = 64 * 1024
PREVIEW_ROWS = 5
RECENT_IMPORTS = 5
UPLOAD_DIR = "uploads"

ENCODINGS = {"utf-8": "UTF-8", "utf-8-sig": _l("UTF-8 with BOM"), "cp1251": "Windows-1251"}
DELIMITERS = {";": _l("semicolon ( ; )"), ",": _l("comma ( , )")}
# Header names that say "this is the phone" (lowercase, compared without spaces and punctuation).
PHONE_HEADERS = (
    "phone",
    "phonenumber",
    "mobile",
    "mobilephone",
    "msisdn",
    "tel",
    "telephone",
    "cell",
    "cellphone",
    "number",
    "телефон",
    "тел",
    "номер",
    "номертелефона",
    "мобильный",
    "мобильныйтелефон",
    "сотовый",
)
NOT_LETTERS = re.compile(r"[\W_]+")


class CsvError(ValueError):
    """A file that cannot be imported, said in plain words: a :class:`webapp.texts.Text`,
    translated when shown (the worker keeps an import's for whoever opens its page)."""

    def __init__(self, text: texts.Text | str) -> None:
        super().__init__(text)
        self.text = text


class QuotaError(Exception):
    """An upload past the team's quota (its size so far, in bytes)."""


# -- storing and sniffing the upload -------------------------------------------------------------


def store_upload(stream: BinaryIO, upload_root: Path, room: int | None = None) -> tuple[str, int]:
    """Copy an uploaded file to ``uploads/<random>.csv`` under ``upload_root`` in 1 MB blocks,
    readable by the service's user only; its path relative to ``upload_root`` and its size.
    QuotaError (nothing kept) when it is larger than ``room`` bytes."""
    folder = upload_root / UPLOAD_DIR
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    relative = f"{UPLOAD_DIR}/{secrets.token_hex(16)}.csv"
    size = 0
    fd = os.open(upload_root / relative, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            while block := stream.read(1024 * 1024):
                size += len(block)
                if room is not None and size > room:
                    raise QuotaError(size)
                out.write(block)
    except BaseException:
        (upload_root / relative).unlink(missing_ok=True)
        raise
    return relative, size


def stored_bytes(session: Session, team_id: int) -> int:
    """How much of the team's uploads is on disk: those not yet imported (pending, queued or
    being read; a finished import's file is deleted)."""
    kept = (ImportState.PENDING, ImportState.QUEUED, ImportState.RUNNING)
    total = session.scalar(
        select(func.sum(ContactImport.stored_bytes)).where(
            ContactImport.team_id == team_id, ContactImport.state.in_(kept)
        )
    )
    return int(total or 0)


@dataclass(frozen=True)
class Sniffed:
    """What the start of a file looks like: its encoding, delimiter, header and first rows."""

    encoding: str
    delimiter: str
    header: list[str]
    rows: list[list[str]]

    @property
    def phone_column(self) -> int:
        return guess_phone_column(self.header, self.rows)


def detect_encoding(sample: bytes) -> str:
    """UTF-8 (with or without BOM) if the sample decodes as UTF-8, else Windows-1251."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        # Not final: the sample may end inside a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return "cp1251"
    return "utf-8"


def detect_delimiter(text: str) -> str:
    """``;`` or ``,``: the one that splits the first lines into the same number (> 1) of
    columns most consistently; ``;`` when neither does (Excel's choice in Russian locales)."""
    lines = text.splitlines()[:50]
    if len(lines) > 1:
        lines = lines[:-1]  # the sample may cut the last line short
    best, best_score = ";", (0, 0)
    for delimiter in DELIMITERS:
        rows = [r for r in csv.reader(lines, delimiter=delimiter) if r]
        if not rows or len(rows[0]) < 2:
            continue
        columns = len(rows[0])
        score = (sum(len(r) == columns for r in rows), columns)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def sniff(path: Path, encoding: str | None = None, delimiter: str | None = None) -> Sniffed:
    """Read the first 64 KB of a file: encoding and delimiter (unless given), header and the
    first rows. CsvError if it is not a CSV with a header."""
    with open(path, "rb") as f:
        sample = f.read(SNIFF_BYTES)
        complete = not f.read(1)
    if not sample.strip():
        raise CsvError(texts.N_("The file is empty."))
    if b"\x00" in sample:
        raise CsvError(
            texts.N_("This is not a CSV file (it holds binary data). Save it as CSV and retry.")
        )
    encoding = encoding if encoding in ENCODINGS else detect_encoding(sample)
    text = sample.decode(encoding, errors="replace")
    if not complete:
        text = text[: text.rfind("\n") + 1] or text  # whole lines only
    delimiter = delimiter if delimiter in DELIMITERS else detect_delimiter(text)
    rows = [r for r in _rows(io.StringIO(text, newline=""), delimiter) if any(c.strip() for c in r)]
    if not rows:
        raise CsvError(texts.N_("The file has no header row."))
    header = [column_name(c) for c in rows[0]]
    return Sniffed(encoding, delimiter, header, rows[1 : PREVIEW_ROWS + 1])


# What a field's name cannot hold: the braces and bar of placeholders (``{name|fallback}``), and
# the quote and backslash that a JSON path in SQLite cannot name (the messages are rendered in
# SQL when a campaign is sent, and must read the same field as the preview).
NOT_IN_NAMES = re.compile(r'[{}|"\\]+')


def column_name(cell: str) -> str:
    """A header cell as the field's name: trimmed, without the characters a placeholder or a
    JSON path cannot carry (``Name "nick"`` becomes ``Name nick``)."""
    return " ".join(NOT_IN_NAMES.sub(" ", cell).split())


def _rows(text: IO[str], delimiter: str) -> Iterator[list[str]]:
    try:
        yield from csv.reader(text, delimiter=delimiter)
    except csv.Error:
        return  # the preview shows what it could read; the import reports the rest


def normalise_header(name: str) -> str:
    return NOT_LETTERS.sub("", name.lower())


def guess_phone_column(header: list[str], rows: list[list[str]] | None = None) -> int:
    """The column that most likely holds phones: by its name, else by its values."""
    names = [normalise_header(h) for h in header]
    for wanted in PHONE_HEADERS:
        if wanted in names:
            return names.index(wanted)
    for i, name in enumerate(names):
        if any(w in name for w in PHONE_HEADERS if len(w) > 3):
            return i
    best, best_count = 0, 0
    for i in range(len(header)):
        count = sum(1 for r in rows or [] if i < len(r) and normalize_phone(r[i]).phone is not None)
        if count > best_count:
            best, best_count = i, count
    return best


# -- the import's life before the worker -----------------------------------------------------------


def receive_upload(
    session: Session,
    contact_list: ContactList,
    user: User | None,
    stream: BinaryIO,
    filename: str | None,
    upload_root: Path,
    quota: int | None = None,
) -> ContactImport:
    """Store an uploaded file and make it a pending import of the list, read as sniffed;
    CsvError (the file deleted) if it is not a CSV with a header, or if it would take the
    team's stored uploads past ``quota`` bytes (saying how much is in use)."""
    in_use = stored_bytes(session, contact_list.team_id) if quota is not None else 0
    try:
        stored, size = store_upload(stream, upload_root, None if quota is None else quota - in_use)
    except QuotaError:
        raise CsvError(_over_quota(session, contact_list.team_id, in_use, quota or 0)) from None
    try:
        sniffed = sniff(upload_root / stored)
    except CsvError:
        remove_upload(upload_root, stored)
        raise
    contact_import = ContactImport(
        team_id=contact_list.team_id,
        list_id=contact_list.id,
        created_by_id=user.id if user is not None else None,
        filename=(filename or "upload.csv")[:255],
        stored_path=stored,
        stored_bytes=size,
        encoding=sniffed.encoding,
        delimiter=sniffed.delimiter,
        phone_column=sniffed.phone_column,
        state=ImportState.PENDING,
    )
    session.add(contact_import)
    session.flush()
    return contact_import


def _over_quota(session: Session, team_id: int, in_use: int, quota: int) -> str:
    waiting = session.scalar(
        select(func.count()).where(
            ContactImport.team_id == team_id, ContactImport.state == ImportState.PENDING
        )
    )
    return ngettext(
        "This upload would take the team's stored uploads past %(quota)s: %(in_use)s is in use "
        "by uploads waiting to be imported (%(count)s not started). Cancel the uploads you do not "
        "need (on their lists' pages), or wait for the running imports to finish, then upload "
        "again.",
        "This upload would take the team's stored uploads past %(quota)s: %(in_use)s is in use "
        "by uploads waiting to be imported (%(count)s not started). Cancel the uploads you do not "
        "need (on their lists' pages), or wait for the running imports to finish, then upload "
        "again.",
        waiting,
        quota=shown(quota),
        in_use=shown(in_use),
        count=count(waiting),
    )


def reread(
    contact_import: ContactImport, upload_root: Path, encoding: str | None, delimiter: str | None
) -> tuple[Sniffed, int]:
    """The pending upload read with the chosen encoding and delimiter (else those stored), and
    the phone column to offer: the stored one, or the guess when it is read another way.
    CsvError, or OSError when the file is gone."""
    sniffed = sniff(
        upload_root / contact_import.stored_path,
        encoding or contact_import.encoding,
        delimiter or contact_import.delimiter,
    )
    same = (sniffed.encoding, sniffed.delimiter) == (
        contact_import.encoding,
        contact_import.delimiter,
    )
    return sniffed, contact_import.phone_column if same else sniffed.phone_column


def start_import(
    session: Session,
    contact_import: ContactImport,
    sniffed: Sniffed,
    phone_column: int,
    user: User | None,
) -> None:
    """Queue the import for the worker, read as the person chose."""
    contact_import.encoding = sniffed.encoding
    contact_import.delimiter = sniffed.delimiter
    contact_import.phone_column = phone_column
    contact_import.state = ImportState.QUEUED
    contact_list = session.get(ContactList, contact_import.list_id)
    record(
        session,
        contact_import.team_id,
        "contacts_import_started",
        user,
        list=contact_list.name if contact_list is not None else "",
        file=contact_import.filename,
    )


def cancel_import(session: Session, contact_import: ContactImport, upload_root: Path) -> bool:
    """Drop an upload that was not started, with its file; False if it has started."""
    if contact_import.state != ImportState.PENDING:
        return False
    remove_upload(upload_root, contact_import.stored_path)
    session.delete(contact_import)
    return True


def recent_imports(session: Session, contact_list: ContactList) -> list[ContactImport]:
    """The list's latest imports, newest first."""
    return list(
        session.scalars(
            select(ContactImport)
            .where(ContactImport.list_id == contact_list.id)
            .order_by(ContactImport.id.desc())
            .limit(RECENT_IMPORTS)
        )
    )


def remove_stale_uploads(session: Session, upload_root: Path, now: datetime, hours: float) -> int:
    """Drop uploads never started (still pending) after ``hours``, with their files, and files
    in the uploads folder that no import names (left by a crash between storing and saving);
    returns how many uploads went. The worker's uploads tick; the caller commits."""
    cutoff = now - timedelta(hours=hours)
    stale = session.scalars(
        select(ContactImport).where(
            ContactImport.state == ImportState.PENDING, ContactImport.created_at < cutoff
        )
    ).all()
    for contact_import in stale:
        remove_upload(upload_root, contact_import.stored_path)
        session.delete(contact_import)
    folder = upload_root / UPLOAD_DIR
    if folder.is_dir():
        named = set(session.scalars(select(ContactImport.stored_path)))
        for path in folder.iterdir():
            relative = f"{UPLOAD_DIR}/{path.name}"
            if relative not in named and path.stat().st_mtime < cutoff.timestamp():
                path.unlink(missing_ok=True)
    return len(stale)
