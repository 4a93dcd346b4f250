"""Opening the charger's SQLite databases the one way that survives a hard kill."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path


def open_database(path: Path, schema: str) -> sqlite3.Connection:
    """Open (creating if needed) the SQLite database at ``path`` and apply ``schema``.

    WAL mode with synchronous=NORMAL keeps every committed transaction across a
    killed process; ``schema`` must be idempotent (``CREATE ... IF NOT EXISTS``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA busy_timeout=5000")
    connection.executescript(schema)
    return connection


@contextlib.contextmanager
def erasing(connection: sqlite3.Connection) -> Iterator[None]:
    """Delete for good: rows deleted within the block are overwritten with zeros
    (``secure_delete``), then the write-ahead log is checkpointed and truncated, so no
    copy of them is left in the database file or its WAL.

    The block runs its own transaction. Raises ``sqlite3.OperationalError`` when a
    reader kept the log from being truncated (deleted rows may still be in it).
    """
    # Many builds (Debian's) have it on already; others not. Back as it was afterwards.
    (before,) = connection.execute("PRAGMA secure_delete").fetchone()
    connection.execute("PRAGMA secure_delete = ON")
    try:
        yield
    finally:
        connection.execute(f"PRAGMA secure_delete = {int(before)}")
    busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        raise sqlite3.OperationalError("a reader kept the write-ahead log from being truncated")


def compact(path: Path) -> None:
    """Rewrite the database at ``path`` (if there is one) without free space (VACUUM)
    and truncate its WAL, so that rows deleted or values overwritten earlier leave no
    copy in either file. For small databases only: VACUUM rewrites the whole file.

    Opens a connection of its own, so it works on a database another part keeps open.
    """
    if not path.exists():
        return
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA busy_timeout=5000")
        connection.execute("VACUUM")
        busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise sqlite3.OperationalError(f"a reader kept the write-ahead log of {path} busy")
    finally:
        connection.close()
