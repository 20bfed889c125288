"""Files at rest: the instance folder, the SQLite database and uploads readable by the service's
user only (also when made through wsgi.py, as gunicorn and `flask` load it); uploads never
started removed by the worker after a day; a team's stored uploads within its quota."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.helpers import PASSWORD, add_list, csrf_token, sign_in
from webapp.app import PROJECT_ROOT, create_app
from webapp.domain import accounts, teams
from webapp.extensions import db
from webapp.jobs import uploads as uploads_tick
from webapp.jobs.scheduler import default_ticks
from webapp.models import ContactImport, ContactList


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask():
    """The usual umask, under which files are created readable by everyone."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_instance_folder_and_sqlite_database_are_private(tmp_path, monkeypatch, open_umask):
    instance = tmp_path / "fresh-instance"
    monkeypatch.setenv("IQSMS_INSTANCE_PATH", str(instance))
    app = create_app({"TESTING": True})  # the default database: a file in the instance folder
    with app.app_context():
        db.create_all()
        db.session.execute(sa.text("CREATE TABLE scratch (x INTEGER)"))
        db.session.execute(sa.text("INSERT INTO scratch VALUES (1)"))
        db.session.commit()
        database = instance / "iqsms.sqlite3"
        assert mode(instance) == 0o700
        assert mode(database) == 0o600
        for companion in instance.glob("iqsms.sqlite3-*"):  # SQLite's -wal and -shm
            assert mode(companion) == 0o600, companion
        for key in ("secret_key", "encryption_key"):
            assert mode(instance / key) == 0o600
        db.engine.dispose()


def test_an_existing_database_readable_by_others_is_narrowed(tmp_path, monkeypatch):
    instance = tmp_path / "old-instance"
    instance.mkdir(mode=0o755)
    os.chmod(instance, 0o755)
    (instance / "iqsms.sqlite3").touch()
    os.chmod(instance / "iqsms.sqlite3", 0o644)
    monkeypatch.setenv("IQSMS_INSTANCE_PATH", str(instance))
    create_app({"TESTING": True})
    assert mode(instance) == 0o700 and mode(instance / "iqsms.sqlite3") == 0o600


def test_wsgi_entry_point_makes_them_private_too(tmp_path):
    """gunicorn wsgi:app, `flask serve` and `flask worker` (through .flaskenv) load wsgi.py."""
    instance = tmp_path / "served"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IQSMS_", "FLASK_"))}
    env.pop("DATABASE_URL", None)
    env["IQSMS_INSTANCE_PATH"] = str(instance)
    code = (
        "import os; os.umask(0o022); import wsgi, sqlalchemy as sa\n"
        "from webapp.extensions import db\n"
        "with wsgi.app.app_context():\n"  # the first request's connection makes the file
        "    db.session.execute(sa.text('CREATE TABLE t (x INTEGER)')); db.session.commit()\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, check=True)
    assert mode(instance) == 0o700
    for path in instance.iterdir():  # the database, its -wal and -shm, the keys
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path
    # The compiled catalogues (webapp.i18n): folders and files the service's alone too.
    for path in (instance / "translations").rglob("*"):
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path


# -- uploads -------------------------------------------------------------------------------------


def signed_in_owner(app, email: str = "up@example.com"):
    """A signed-in client of a new team's owner, and the team's id."""
    with app.app_context():
        user = accounts.create_user(db.session, email, PASSWORD)
        team = teams.create_team(db.session, app.config, "Up", user)
        db.session.commit()
        team_id = team.id
    client = app.test_client()
    sign_in(client, email)
    return client, team_id


@pytest.fixture
def owner(app):
    return signed_in_owner(app)


def upload(client, list_id: int, content: bytes):
    return client.post(
        f"/contacts/lists/{list_id}/upload",
        data={"csrf_token": csrf_token(client), "file": (io.BytesIO(content), "a.csv")},
        content_type="multipart/form-data",
    )


def csv_of(size: int) -> bytes:
    rows = b"".join(b"7916%07d;Name\n" % i for i in range(size // 17 + 1))
    return (b"phone;name\n" + rows)[:size].rsplit(b"\n", 1)[0] + b"\n"


def stored_files(app) -> list[Path]:
    folder = Path(app.instance_path, "uploads")
    return sorted(folder.iterdir()) if folder.exists() else []


def test_uploads_are_private(app, owner, open_umask):
    client, team_id = owner
    list_id = add_list(app, team_id, "L", [])
    assert upload(client, list_id, csv_of(500)).status_code == 302
    [stored] = stored_files(app)
    assert mode(stored) == 0o600
    assert mode(stored.parent) == 0o700


def test_uploads_never_started_are_removed_after_a_day(app, owner, monkeypatch):
    client, team_id = owner
    list_id = add_list(app, team_id, "L", [])
    assert upload(client, list_id, csv_of(300)).status_code == 302
    assert upload(client, list_id, csv_of(400)).status_code == 302
    orphan = Path(app.instance_path, "uploads", "left-by-a-crash.csv")
    orphan.write_bytes(b"phone\n79160000001\n")
    day_old = (orphan.stat().st_mtime - 25 * 3600,) * 2
    os.utime(orphan, day_old)
    with app.app_context():
        old, new = db.session.scalars(sa.select(ContactImport).order_by(ContactImport.id)).all()
        old.created_at = old.created_at - timedelta(hours=25)
        old_path, new_path = old.stored_path, new.stored_path
        db.session.commit()
    assert any(t.name == "uploads" for t in default_ticks())
    monkeypatch.setenv("IQSMS_UPLOAD_EXPIRE_HOURS", "30")
    # Another app on the same database and folder (make_app would empty the database).
    patient = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})
    with patient.app_context():
        uploads_tick.run(patient)  # 25 hours is not 30: nothing goes
        assert len(db.session.scalars(sa.select(ContactImport)).all()) == 2
        db.session.remove()
        db.engine.dispose()
    with app.app_context():
        uploads_tick.run(app)  # the tick as the scheduler calls it (in an app context)
    with app.app_context():
        assert db.session.scalars(sa.select(ContactImport.stored_path)).all() == [new_path]
    assert not Path(app.instance_path, old_path).exists()
    assert Path(app.instance_path, new_path).exists()
    assert not orphan.exists()


def test_a_teams_stored_uploads_have_a_quota(make_app, monkeypatch):
    monkeypatch.setenv("IQSMS_UPLOAD_QUOTA_BYTES", "3000")
    app = make_app()
    client, team_id = signed_in_owner(app, "q@example.com")
    list_id = add_list(app, team_id, "L", [])
    first = upload(client, list_id, csv_of(2000))
    assert first.status_code == 302
    refused = upload(client, list_id, csv_of(2000))
    assert refused.status_code == 400
    page = " ".join(refused.text.split())
    assert "would take the team&#39;s stored uploads past 3 KB: 2 KB is in use" in page
    assert "(1 not started). Cancel the uploads you do not need" in page
    assert len(stored_files(app)) == 1  # nothing of the refused one kept
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ContactImport)) == 1
        import_id = db.session.scalar(sa.select(ContactImport.id))
    cancelled = client.post(
        f"/contacts/imports/{import_id}/cancel", data={"csrf_token": csrf_token(client)}
    )
    assert cancelled.status_code == 302
    assert upload(client, list_id, csv_of(2000)).status_code == 302  # room again
    with app.app_context():
        assert db.session.get(ContactList, list_id) is not None
