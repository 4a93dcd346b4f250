"""Settings the owner or the CSMS changed at run time, kept across restarts.

Values are JSON documents under a dotted key (``random_delay.max_duration_s``).
The config file gives the defaults; a stored value, once written, wins.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ukscp.storage import open_database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class SettingsStore:
    """A small durable key -> JSON value store."""

    def __init__(self, path: Path) -> None:
        self._db = open_database(path, _SCHEMA)

    def get(self, key: str, default: Any = None) -> Any:
        """The stored value of ``key``, or ``default`` when none was stored."""
        row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON-serialisable) under ``key``, durably."""
        self._db.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value, sort_keys=True)),
        )

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        self._db.execute("DELETE FROM settings WHERE key = ?", (key,))

    def close(self) -> None:
        """Close the database."""
        self._db.close()
