"""Opening the charger's SQLite databases the one way that survives a hard kill."""

from __future__ import annotations

import sqlite3
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
