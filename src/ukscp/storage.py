"""Opening the charger's SQLite databases the one way that survives a hard kill.

Each database and its ``-wal`` and ``-shm`` files are readable by the owner only
(SQLite gives the two the mode of the database). A file SQLite cannot read is
:class:`DatabaseCorrupt`; :func:`move_aside` keeps it, renamed, for whoever looks
into why, so that the charger can start a new one and go on. :func:`erasing` and
:func:`compact` delete for good (personal data): no copy left in the file or its WAL.
"""

from __future__ import annotations

import contextlib
import glob
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

DATABASE_MODE = 0o600
MAX_INTEGER = 2**63 - 1  # SQLite's largest integer (and row id): a larger one cannot be bound
_COMPANIONS = ("", "-wal", "-shm")  # the database and the files SQLite keeps beside it
# SQLite's primary result codes for "this is not (or no longer) a database".
_CORRUPTION_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})


class DatabaseCorrupt(Exception):
    """The file at ``path`` is not a readable SQLite database (``reason`` says why)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path.name} cannot be read: {reason}")
        self.path = path
        self.reason = reason


def is_corruption(error: sqlite3.Error) -> bool:
    """Whether ``error`` says the file is damaged (not busy, full or refused)."""
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _CORRUPTION_CODES


def open_database(path: Path, schema: str, *, check: bool = False) -> sqlite3.Connection:
    """Open (creating if needed) the SQLite database at ``path`` and apply ``schema``.

    WAL mode with synchronous=NORMAL keeps every committed transaction across a
    killed process; ``schema`` must be idempotent (``CREATE ... IF NOT EXISTS``).
    ``check`` also reads every page (``PRAGMA quick_check``, linear in the file's
    size): for a small database whose damage must be found now, not at a write.
    Raises :class:`DatabaseCorrupt` for a file SQLite cannot read.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DATABASE_MODE))
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("PRAGMA busy_timeout=5000")
        if check:
            problems = [str(row[0]) for row in connection.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                raise DatabaseCorrupt(path, "; ".join(problems))
        connection.executescript(schema)
    except sqlite3.DatabaseError as exc:
        connection.close()
        if is_corruption(exc):
            raise DatabaseCorrupt(path, str(exc)) from exc
        raise
    except DatabaseCorrupt:
        connection.close()
        raise
    for companion in _companions(path):
        # Explicitly: a file made before the umask was set keeps its old mode.
        with contextlib.suppress(FileNotFoundError):
            companion.chmod(DATABASE_MODE)
    return connection


def move_aside(path: Path, at: datetime) -> Path:
    """Rename the database at ``path`` (and its WAL) to a new name stamped with ``at``.

    Never deletes: the damaged file is evidence, and may still hold data worth
    recovering. Returns the new path of the database file.
    """
    stamp = at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    count = 1
    while any(companion.exists() for companion in _companions(target)):
        count += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{count}")
    for source, dest in zip(_companions(path), _companions(target), strict=True):
        with contextlib.suppress(FileNotFoundError):
            source.rename(dest)
    return target


def kept_aside(path: Path) -> list[Path]:
    """The damaged files :func:`move_aside` kept for the database at ``path``, oldest first."""
    pattern = f"{glob.escape(path.name)}.corrupt-*"
    return sorted(
        kept
        for kept in path.parent.glob(pattern)
        if not kept.name.endswith(_COMPANIONS[1:])
    )


def _companions(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in _COMPANIONS]


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
