"""Deleting from the charger's SQLite files for good (personal data)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ukscp.storage import compact, erasing, open_database

_SCHEMA = "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, kind TEXT, text TEXT);"


def filled(path: Path) -> sqlite3.Connection:
    """A database like the charger's (WAL), with secure_delete off as some builds have it."""
    db = open_database(path, _SCHEMA)
    db.execute("PRAGMA secure_delete = OFF")
    for n in range(40):
        db.execute(
            "INSERT INTO notes (kind, text) VALUES (?, ?)",
            ("keep" if n % 8 == 0 else "personal", f"tell-tale-{n:02d}"),
        )
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db


def traces(path: Path) -> bool:
    files = [path, path.with_name(path.name + "-wal")]
    return any(b"tell-tale-03" in f.read_bytes() for f in files if f.exists())


def test_a_plain_delete_leaves_the_bytes_in_the_file(tmp_path: Path) -> None:
    # The control: what erasing is for.
    db = filled(tmp_path / "plain.sqlite3")
    db.execute("DELETE FROM notes WHERE kind = 'personal'")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert traces(tmp_path / "plain.sqlite3")


def test_erasing_overwrites_deleted_rows_and_truncates_the_log(tmp_path: Path) -> None:
    path = tmp_path / "erased.sqlite3"
    db = filled(path)
    with erasing(db):
        assert db.execute("DELETE FROM notes WHERE kind = 'personal'").rowcount == 35
    assert not traces(path)
    assert path.with_name(path.name + "-wal").stat().st_size == 0
    assert db.execute("SELECT count(*) FROM notes").fetchone() == (5,)
    assert db.execute("PRAGMA secure_delete").fetchone() == (0,)  # as it was


def test_compact_rewrites_a_file_another_connection_keeps_open(tmp_path: Path) -> None:
    path = tmp_path / "owned-elsewhere.sqlite3"
    db = filled(path)
    db.execute("DELETE FROM notes WHERE kind = 'personal'")
    db.execute("UPDATE notes SET text = 'overwritten' WHERE id = 1")
    assert traces(path)
    compact(path)
    assert not traces(path)
    assert b"tell-tale-00" not in path.read_bytes()  # the value overwritten goes too
    assert db.execute("SELECT count(*) FROM notes").fetchone() == (5,)


def test_compact_of_a_file_that_is_not_there_creates_nothing(tmp_path: Path) -> None:
    compact(tmp_path / "never.sqlite3")
    assert not (tmp_path / "never.sqlite3").exists()
