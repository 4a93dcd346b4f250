"""A/B firmware slots: staged into the slot not running, switched by replacing one pointer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ukscp.firmware.slots import POINTER_FILE, FirmwareSlots, SlotOrigin, SlotPointer

ORIGIN = SlotOrigin("-----BEGIN CERTIFICATE-----\n", "c2ln")


def _pointer(slot: str, version: str) -> SlotPointer:
    return SlotPointer(
        slot=slot,
        version=version,
        wheel=f"ukscp-{version}-py3-none-any.whl",
        sha256="ab" * 32,
        request_id=1,
        installed_at="2026-01-05T00:00:00+00:00",
    )


def _download(slots: FirmwareSlots, data: bytes) -> Path:
    path = slots.incoming / "request-1.part"
    path.write_bytes(data)
    return path


def test_the_factory_software_counts_as_slot_a(tmp_path: Path) -> None:
    slots = FirmwareSlots(tmp_path)
    assert slots.active() is None
    assert slots.inactive_slot() == "b"


def test_staging_then_switching_alternates_the_slots(tmp_path: Path) -> None:
    slots = FirmwareSlots(tmp_path)
    slot, staged = slots.stage(_download(slots, b"one"), "ukscp-0.2.0-py3-none-any.whl", ORIGIN)
    assert slot == "b" and staged.read_bytes() == b"one"
    assert slots.origin_path("b").read_bytes() == ORIGIN.as_bytes()  # kept as sent
    assert slots.active() is None  # staged is not active until switched
    slots.switch(_pointer("b", "0.2.0"))
    assert slots.inactive_slot() == "a"
    slot, _ = slots.stage(_download(slots, b"two"), "ukscp-0.3.0-py3-none-any.whl", ORIGIN)
    assert slot == "a"
    assert (slots.slot_dir("b") / "ukscp-0.2.0-py3-none-any.whl").read_bytes() == b"one"
    slots.switch(_pointer("a", "0.3.0"))
    active = slots.active()
    assert active is not None and active.version == "0.3.0"
    assert active.previous is not None and active.previous["version"] == "0.2.0"


def test_the_pointer_is_replaced_whole_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    slots = FirmwareSlots(tmp_path)
    slots.switch(_pointer("b", "0.2.0"))
    slots.switch(_pointer("a", "0.3.0"))
    assert sorted(p.name for p in slots.root.iterdir()) == [POINTER_FILE]
    assert json.loads((slots.root / POINTER_FILE).read_text())["slot"] == "a"
    assert (slots.root / POINTER_FILE).stat().st_mode & 0o777 == 0o600


def test_a_damaged_pointer_reads_as_the_factory_software(tmp_path: Path) -> None:
    slots = FirmwareSlots(tmp_path)
    slots.root.mkdir(parents=True)
    (slots.root / POINTER_FILE).write_text("{not json")
    assert slots.active() is None


@pytest.mark.parametrize("name", ["../evil.whl", ".hidden.whl"])
def test_a_wheel_name_cannot_leave_its_slot(tmp_path: Path, name: str) -> None:
    slots = FirmwareSlots(tmp_path)
    with pytest.raises(ValueError, match="plain file name"):
        slots.stage(_download(slots, b"x"), name, ORIGIN)
