"""The data directory's files: owner-only modes, databases SQLite cannot read, kept aside."""

from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ukscp.files import restrict_to_owner
from ukscp.storage import DatabaseCorrupt, is_corruption, kept_aside, move_aside, open_database

AT = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_group_and_others_lose_every_permission_and_the_owner_keeps_theirs(tmp_path: Path):
    root = tmp_path / "data"
    (root / "tls").mkdir(parents=True)
    files = {root / "notes.txt": 0o644, root / "tls" / "run.sh": 0o755, root / "mine": 0o600}
    for path, bits in files.items():
        path.write_text("x")
        path.chmod(bits)
    for folder in (root, root / "tls"):
        folder.chmod(0o755)

    changed = restrict_to_owner(root)

    assert sorted(changed) == sorted(
        [(root, 0o755), (root / "tls", 0o755), (root / "notes.txt", 0o644),
         (root / "tls" / "run.sh", 0o755)]
    )
    assert [mode(p) for p in (root, root / "tls")] == [0o700, 0o700]
    assert [mode(p) for p in files] == [0o600, 0o700, 0o600]
    assert restrict_to_owner(root) == []


def test_what_a_link_points_at_is_not_changed(tmp_path: Path):
    outside = tmp_path / "shared-ca.pem"
    outside.write_text("a certificate others may read")
    outside.chmod(0o644)
    root = tmp_path / "data"
    root.mkdir(mode=0o700)
    (root / "ca.pem").symlink_to(outside)
    assert restrict_to_owner(root) == []
    assert mode(outside) == 0o644


def test_a_new_database_and_its_wal_are_the_owners_only(tmp_path: Path):
    path = tmp_path / "new.sqlite3"
    db = open_database(path, "CREATE TABLE IF NOT EXISTS t (x INTEGER);")
    db.execute("INSERT INTO t VALUES (1)")
    wal, shm = path.with_name("new.sqlite3-wal"), path.with_name("new.sqlite3-shm")
    assert [mode(p) for p in (path, wal, shm)] == [0o600, 0o600, 0o600]
    db.close()


def test_a_database_left_readable_is_made_the_owners_only_when_opened(tmp_path: Path):
    path = tmp_path / "old.sqlite3"
    sqlite3.connect(path).close()
    path.chmod(0o644)
    open_database(path, "").close()
    assert mode(path) == 0o600


def test_a_file_that_is_not_a_database_is_named_corrupt_with_sqlites_words(tmp_path: Path):
    path = tmp_path / "settings.sqlite3"
    path.write_bytes(b"this is not SQLite" * 20)
    with pytest.raises(DatabaseCorrupt) as raised:
        open_database(path, "")
    assert raised.value.path == path
    assert "file is not a database" in str(raised.value)


def test_a_busy_database_is_not_taken_for_a_corrupt_one(tmp_path: Path):
    path = tmp_path / "busy.sqlite3"
    holder = open_database(path, "CREATE TABLE IF NOT EXISTS t (x INTEGER);")
    holder.execute("BEGIN IMMEDIATE")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError) as raised:
        other.execute("BEGIN IMMEDIATE")
    assert not is_corruption(raised.value)
    holder.execute("ROLLBACK")
    other.close()
    holder.close()


def test_moving_aside_keeps_the_database_with_its_wal_and_never_overwrites(tmp_path: Path):
    path = tmp_path / "history.sqlite3"
    for n in range(2):
        path.write_bytes(f"damaged {n}".encode())
        path.with_name("history.sqlite3-wal").write_bytes(f"wal {n}".encode())
        move_aside(path, AT)
    first, second = kept_aside(path)
    assert (first.name, second.name) == (
        "history.sqlite3.corrupt-20260105T120000Z",
        "history.sqlite3.corrupt-20260105T120000Z-2",
    )
    assert (first.read_bytes(), second.read_bytes()) == (b"damaged 0", b"damaged 1")
    assert first.with_name(first.name + "-wal").read_bytes() == b"wal 0"
    assert not path.exists()
