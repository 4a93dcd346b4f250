"""Two firmware slots (A/B) under the data directory, and the pointer that says which runs.

Layout under ``<data_dir>/firmware/``::

    slot-a/ukscp-<version>-py3-none-any.whl   the wheel of slot A (if any)
    slot-b/...                                 the wheel of slot B (if any)
    active.json                                the pointer (absent: the factory software)
    incoming/                                  downloads in progress

The pointer, JSON::

    {"slot": "b", "version": "0.2.0", "wheel": "ukscp-0.2.0-py3-none-any.whl",
     "sha256": "<hex digest of the wheel>", "request_id": 7, "installed_at": "<ISO 8601>",
     "previous": {"slot": "a", "version": "0.1.0", ...} or null}

A new firmware is staged into the slot the pointer does *not* name, synced to
disk, and only then made active by replacing the pointer in one rename
(write a new file, fsync it, ``os.replace``, fsync the directory). A power cut
at any moment leaves either the old pointer or the new one, each naming a
complete slot. The service that starts ukscp (its launcher) installs the
pointer's wheel before starting it; the running charger never modifies its
own installed files, which the signed release manifest keeps watching.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ukscp.files import write_atomically

FIRMWARE_DIR = "firmware"
POINTER_FILE = "active.json"
SLOTS = ("a", "b")
_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class SlotPointer:
    """The contents of ``active.json``."""

    slot: str
    version: str
    wheel: str
    sha256: str
    request_id: int | None
    installed_at: str
    previous: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The pointer as JSON-able data."""
        return {
            "slot": self.slot,
            "version": self.version,
            "wheel": self.wheel,
            "sha256": self.sha256,
            "request_id": self.request_id,
            "installed_at": self.installed_at,
            "previous": self.previous,
        }


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FirmwareSlots:
    """The A/B slots and their pointer under ``<data_dir>/firmware``."""

    def __init__(self, data_dir: Path) -> None:
        self._root = data_dir / FIRMWARE_DIR

    @property
    def root(self) -> Path:
        """``<data_dir>/firmware``."""
        return self._root

    @property
    def incoming(self) -> Path:
        """Where downloads land before they are verified (created on demand)."""
        path = self._root / "incoming"
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    def slot_dir(self, slot: str) -> Path:
        """The directory of ``slot`` ("a" or "b")."""
        if slot not in SLOTS:
            raise ValueError(f"no firmware slot {slot!r}")
        return self._root / f"slot-{slot}"

    def active(self) -> SlotPointer | None:
        """The pointer, or None when the factory software runs (or the pointer is unreadable)."""
        try:
            raw = json.loads((self._root / POINTER_FILE).read_text(encoding="utf-8"))
            return SlotPointer(
                slot=str(raw["slot"]),
                version=str(raw["version"]),
                wheel=str(raw["wheel"]),
                sha256=str(raw["sha256"]),
                request_id=None if raw.get("request_id") is None else int(raw["request_id"]),
                installed_at=str(raw["installed_at"]),
                previous=raw.get("previous"),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def inactive_slot(self) -> str:
        """The slot the pointer does not name: where the next firmware goes."""
        current = self.active()
        if current is None or current.slot not in SLOTS:
            return SLOTS[1]  # the factory software counts as slot A
        return SLOTS[1 - SLOTS.index(current.slot)]

    def stage(self, download: Path, wheel_name: str) -> tuple[str, Path]:
        """Move a verified download into the inactive slot, synced; ``(slot, wheel path)``.

        The slot is emptied first: whatever it held is not the running software.
        """
        if "/" in wheel_name or wheel_name.startswith("."):
            raise ValueError(f"not a plain file name: {wheel_name!r}")
        slot = self.inactive_slot()
        directory = self.slot_dir(slot)
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True, mode=0o700)
        target = directory / wheel_name
        with download.open("rb") as stream:
            os.fsync(stream.fileno())
        download.replace(target)
        _fsync_dir(directory)
        _fsync_dir(self._root)
        return slot, target

    def switch(self, pointer: SlotPointer) -> None:
        """Make ``pointer`` the active one: new file, fsync, ``os.replace``, fsync the directory."""
        self.slot_dir(pointer.slot)  # ValueError for an unknown slot
        previous = self.active()
        body = pointer.as_dict()
        if previous is not None:
            body["previous"] = {k: v for k, v in previous.as_dict().items() if k != "previous"}
        data = (json.dumps(body, indent=1, sort_keys=True) + "\n").encode("utf-8")
        write_atomically(self._root / POINTER_FILE, data, 0o600)
        _fsync_dir(self._root)

    def clear_incoming(self) -> None:
        """Remove leftover downloads (from an interrupted request)."""
        path = self._root / "incoming"
        if path.exists():
            with contextlib.suppress(OSError):
                shutil.rmtree(path)
