"""Two firmware slots (A/B) under the data directory, and the pointer that says which runs.

Layout under ``<data_dir>/firmware/``::

    slot-a/ukscp-<version>-py3-none-any.whl   the wheel of slot A (if any)
    slot-a/origin.json                         its signing certificate and signature, as sent
    slot-a/site/                               the wheel unpacked: what ``ukscp boot`` runs
    slot-a/site.json                           every file of ``site/`` and its SHA-256
    slot-b/...                                 the same for slot B
    active.json                                the pointer (absent: the factory software)
    reports.json                               what the launcher found at boot, for the CSMS
    incoming/                                  downloads in progress

The pointer, JSON::

    {"slot": "b", "version": "0.2.0", "wheel": "ukscp-0.2.0-py3-none-any.whl",
     "sha256": "<hex digest of the wheel>", "request_id": 7, "installed_at": "<ISO 8601>",
     "site_sha256": "<hex digest of site.json>", "confirmed": false,
     "previous": {"slot": "a", "version": "0.1.0", ...} or null}

A new firmware is staged into the slot the pointer does *not* name with what
proves its origin (``origin.json``: the signing certificate and the signature
exactly as the CSMS sent them), unpacked there (:func:`.site.unpack_wheel`: the
standard library's ``zipfile``, every member checked, the files and their
digests recorded in ``site.json``; no bytecode, which the wheel does not sign),
synced to disk, and only then made active by replacing the pointer in one
rename (write a new file, fsync it, ``os.replace``, fsync the directory). A
power cut at any moment leaves either the old pointer or the new one, each
naming a complete slot.

The launcher (``ukscp boot``, :mod:`ukscp.firmware.launcher`) runs the
pointer's ``site/`` after checking it against ``site.json`` (and ``site.json``
against the pointer): a file changed, added or removed since the install is
an unauthorised software change. All of that lives in the data directory, so
it proves nothing against someone who can rewrite the directory whole: the
launcher also gathers the slot's :class:`SlotEvidence` (:meth:`FirmwareSlots.evidence`)
and judges it against the manufacturer root, which is not kept here (the
signature over the wheel, and ``site/`` exactly the wheel's RECORD).
``confirmed`` turns true once the slot has started and become ready once;
until then a failed start falls back.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ukscp.files import write_atomically
from ukscp.firmware.site import (
    compare_files,
    manifest_bytes,
    sha256_file,
    site_digests,
    unpack_wheel,
)
from ukscp.firmware.wheel import NotAWheel, Wheel, WheelInfo

FIRMWARE_DIR = "firmware"
POINTER_FILE = "active.json"
REPORTS_FILE = "reports.json"
SITE_DIR = "site"
MANIFEST_FILE = "site.json"
ORIGIN_FILE = "origin.json"
_MAX_ORIGIN_BYTES = 1 << 20  # a certificate chain and a signature: a few kilobytes
SLOTS = ("a", "b")


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
    site_sha256: str | None = None  # digest of the slot's site.json, recorded at install
    confirmed: bool = False  # the slot has started and become ready at least once

    def as_dict(self) -> dict[str, Any]:
        """The pointer as JSON-able data."""
        return {
            "slot": self.slot,
            "version": self.version,
            "wheel": self.wheel,
            "sha256": self.sha256,
            "request_id": self.request_id,
            "installed_at": self.installed_at,
            "site_sha256": self.site_sha256,
            "confirmed": self.confirmed,
            "previous": self.previous,
        }

    @property
    def previous_pointer(self) -> SlotPointer | None:
        """The pointer this one replaced, or None (the factory software, or unreadable)."""
        return None if self.previous is None else parse_pointer(self.previous)


@dataclass(frozen=True, slots=True)
class SlotOrigin:
    """What proves a slot's origin: the PEM signing certificate (then any
    intermediates) and the base64 signature over the wheel, exactly as the CSMS
    sent them (OCPP 1.6 SignedUpdateFirmware, 2.0.1 UpdateFirmware)."""

    signing_certificate: str
    signature: str

    def as_bytes(self) -> bytes:
        """``origin.json``."""
        body = {"signing_certificate": self.signing_certificate, "signature": self.signature}
        return (json.dumps(body, indent=1) + "\n").encode("utf-8")


def parse_origin(raw: bytes) -> SlotOrigin | str:
    """``origin.json`` read back, or why it cannot be."""
    try:
        body = json.loads(raw)
        certificate, signature = body["signing_certificate"], body["signature"]
    except (ValueError, KeyError, TypeError):
        return f"unreadable: {ORIGIN_FILE}"
    if not isinstance(certificate, str) or not isinstance(signature, str):
        return f"unreadable: {ORIGIN_FILE}"
    return SlotOrigin(certificate, signature)


@dataclass(frozen=True, slots=True)
class SlotEvidence:
    """What a slot holds, read for the launcher's judgement of its origin.

    Each part is what was found or, as a string, why it could not be read.
    """

    pointer: SlotPointer
    wheel_sha256: bytes | str  # the digest of the staged wheel
    wheel: WheelInfo | str  # what the wheel says it is
    origin: SlotOrigin | str  # as the CSMS sent it
    record: Mapping[str, str] | str  # the wheel's RECORD: every file and its hex SHA-256
    found: Mapping[str, str]  # every file under site/ and its hex SHA-256


def parse_pointer(raw: Mapping[str, Any]) -> SlotPointer | None:
    """A pointer from its JSON form; None if it is not one."""
    try:
        previous = raw.get("previous")
        site = raw.get("site_sha256")
        return SlotPointer(
            slot=str(raw["slot"]),
            version=str(raw["version"]),
            wheel=str(raw["wheel"]),
            sha256=str(raw["sha256"]),
            request_id=None if raw.get("request_id") is None else int(raw["request_id"]),
            installed_at=str(raw["installed_at"]),
            previous=dict(previous) if isinstance(previous, dict) else None,
            site_sha256=None if site is None else str(site),
            confirmed=raw.get("confirmed") is True,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _wheel_evidence(path: Path) -> tuple[WheelInfo | str, dict[str, str] | str]:
    """What the wheel says it is, and every file its RECORD lists; each, or why not."""
    try:
        wheel = Wheel.open(path)
    except NotAWheel as exc:
        return str(exc), f"the wheel's RECORD cannot be used: {exc}"
    with wheel:
        info: WheelInfo | str
        try:
            info = wheel.info()
        except NotAWheel as exc:
            info = str(exc)
        record: dict[str, str] | str
        try:
            record = wheel.expected_digests()
        except NotAWheel as exc:
            record = f"the wheel's RECORD cannot be used: {exc}"
    return info, record


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """Sync every file and directory under ``root``."""
    for directory, _, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(Path(directory) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(directory))


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

    def site_dir(self, slot: str) -> Path:
        """The unpacked package of ``slot``: what goes first on the child's ``sys.path``."""
        return self.slot_dir(slot) / SITE_DIR

    def manifest_path(self, slot: str) -> Path:
        """``site.json`` of ``slot``."""
        return self.slot_dir(slot) / MANIFEST_FILE

    def active(self) -> SlotPointer | None:
        """The pointer, or None when the factory software runs (or the pointer is unreadable)."""
        try:
            raw = json.loads((self._root / POINTER_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return parse_pointer(raw) if isinstance(raw, dict) else None

    def inactive_slot(self) -> str:
        """The slot the pointer does not name: where the next firmware goes."""
        current = self.active()
        if current is None or current.slot not in SLOTS:
            return SLOTS[1]  # the factory software counts as slot A
        return SLOTS[1 - SLOTS.index(current.slot)]

    def origin_path(self, slot: str) -> Path:
        """``origin.json`` of ``slot``."""
        return self.slot_dir(slot) / ORIGIN_FILE

    def stage(self, download: Path, wheel_name: str, origin: SlotOrigin) -> tuple[str, Path]:
        """Move a verified download into the inactive slot, synced; ``(slot, wheel path)``.

        The slot is emptied first: whatever it held is not the running software.
        ``origin`` (the signing certificate and signature it was verified
        with) is kept beside it, for the launcher to verify again at each boot.
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
        write_atomically(directory / ORIGIN_FILE, origin.as_bytes(), 0o600)
        _fsync_dir(directory)
        _fsync_dir(self._root)
        return slot, target

    def make_runnable(self, slot: str, wheel: Path) -> str:
        """Unpack the staged ``wheel`` into ``slot``'s ``site/``; the digest of its manifest.

        Run after :meth:`stage` and before :meth:`switch`: a crash in between
        leaves the old pointer, so the old slot stays the one that boots.
        """
        site = self.site_dir(slot)
        if site.exists():
            shutil.rmtree(site)
        files = unpack_wheel(wheel, site)
        data = manifest_bytes(files)
        write_atomically(self.manifest_path(slot), data, 0o600)
        _fsync_tree(site)
        _fsync_dir(self.slot_dir(slot))
        return hashlib.sha256(data).hexdigest()

    def verify(self, pointer: SlotPointer) -> list[str]:
        """What differs in ``pointer``'s slot from what was installed; empty when intact.

        The wheel must have the digest in the pointer, ``site.json`` the digest
        in the pointer, and ``site/`` exactly the files ``site.json`` lists.
        """
        try:
            slot_dir = self.slot_dir(pointer.slot)
        except ValueError as exc:
            return [str(exc)]
        if pointer.site_sha256 is None:
            return [f"slot {pointer.slot} was never unpacked (no site.json digest)"]
        problems: list[str] = []
        try:
            if sha256_file(slot_dir / pointer.wheel) != pointer.sha256:
                problems.append(f"changed: {pointer.wheel}")
        except OSError:
            problems.append(f"missing: {pointer.wheel}")
        try:
            raw = self.manifest_path(pointer.slot).read_bytes()
        except OSError:
            return [*problems, f"missing: {MANIFEST_FILE}"]
        if hashlib.sha256(raw).hexdigest() != pointer.site_sha256:
            return [*problems, f"changed: {MANIFEST_FILE}"]
        try:
            recorded = json.loads(raw)["files"]
        except (ValueError, KeyError, TypeError):
            return [*problems, f"unreadable: {MANIFEST_FILE}"]
        site = self.site_dir(pointer.slot)
        found = site_digests(site) if site.is_dir() else {}
        return [*problems, *compare_files(recorded, found)]

    def evidence(self, pointer: SlotPointer) -> SlotEvidence:
        """Read what ``pointer``'s slot holds, for :func:`.boot.judge_origin`.

        Reads the wheel (its digest, METADATA and RECORD), ``origin.json`` and
        every file under ``site/``; decides nothing.
        """
        site = self.site_dir(pointer.slot)
        found = site_digests(site) if site.is_dir() else {}
        if "/" in pointer.wheel or pointer.wheel.startswith("."):
            problem = f"the pointer names no wheel file: {pointer.wheel!r}"
            return SlotEvidence(pointer, problem, problem, problem, problem, found)
        wheel = self.slot_dir(pointer.slot) / pointer.wheel
        digest: bytes | str
        try:
            digest = bytes.fromhex(sha256_file(wheel))
        except OSError:
            digest = f"missing: {pointer.wheel}"
        info, record = _wheel_evidence(wheel)
        origin: SlotOrigin | str
        try:
            with self.origin_path(pointer.slot).open("rb") as stream:
                origin = parse_origin(stream.read(_MAX_ORIGIN_BYTES + 1))
        except OSError:
            origin = f"missing: {ORIGIN_FILE} (who signed the slot is not known)"
        return SlotEvidence(pointer, digest, info, origin, record, found)

    def switch(self, pointer: SlotPointer) -> None:
        """Make ``pointer`` the active one: new file, fsync, ``os.replace``, fsync the directory."""
        self.slot_dir(pointer.slot)  # ValueError for an unknown slot
        previous = self.active()
        body = pointer.as_dict()
        if previous is not None:
            body["previous"] = {k: v for k, v in previous.as_dict().items() if k != "previous"}
        self._write_pointer(body)

    def confirm(self) -> SlotPointer | None:
        """Mark the active slot as having started once (its previous stays, for a fallback)."""
        current = self.active()
        if current is None or current.confirmed:
            return current
        confirmed = replace(current, confirmed=True)
        self._write_pointer(confirmed.as_dict())
        return confirmed

    def fall_back(self, to: SlotPointer | None) -> None:
        """Point at ``to`` (with nothing before it), or the factory software if None."""
        path = self._root / POINTER_FILE
        if to is None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            _fsync_dir(self._root)
            return
        self._write_pointer(replace(to, previous=None).as_dict())

    def _write_pointer(self, body: dict[str, Any]) -> None:
        data = (json.dumps(body, indent=1, sort_keys=True) + "\n").encode("utf-8")
        write_atomically(self._root / POINTER_FILE, data, 0o600)
        _fsync_dir(self._root)

    # -- what the launcher found, for the OCPP client of the next start --

    def add_report(self, request_id: int, status: str, detail: str) -> None:
        """Keep a firmware status for the CSMS (written by the launcher, read by the charger)."""
        reports = self.reports()
        reports.append({"request_id": request_id, "status": status, "detail": detail})
        data = (json.dumps(reports, indent=1) + "\n").encode("utf-8")
        write_atomically(self._root / REPORTS_FILE, data, 0o600)
        _fsync_dir(self._root)

    def reports(self) -> list[dict[str, Any]]:
        """The reports not yet handed to an OCPP client, oldest first."""
        try:
            raw = json.loads((self._root / REPORTS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [r for r in raw if isinstance(r, dict)] if isinstance(raw, list) else []

    def clear_reports(self) -> None:
        """Forget the reports (once they are in the OCPP client's persistent queue)."""
        with contextlib.suppress(FileNotFoundError):
            (self._root / REPORTS_FILE).unlink()

    def clear_incoming(self) -> None:
        """Remove leftover downloads (from an interrupted request)."""
        path = self._root / "incoming"
        if path.exists():
            with contextlib.suppress(OSError):
                shutil.rmtree(path)
