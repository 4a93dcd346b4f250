"""The launcher's proof of a slot's origin: only what the manufacturer signed boots.

The slot files are real (wheels built, signed and installed here with the
installer's own calls); the attacker rewrites the data directory whole, wheel,
files, ``origin.json``, ``site.json`` and ``active.json`` made consistent, and
:func:`judge_origin` must still refuse. The decision is pure; the launcher's
shell is driven through :meth:`Launcher.prepare` with real files and a real
security log.
"""

from __future__ import annotations

import io
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from tests.firmware_support import (
    NOW,
    build_wheel,
    forge_slot,
    install_slot,
    make_root,
    make_signer,
    package_wheel,
    rerecord,
    sign,
    wheel_bytes,
    write_root,
)
from ukscp.clock import VirtualClock
from ukscp.firmware.boot import NO_ROOT, check_time, judge_origin
from ukscp.firmware.launcher import ChildCommand, Launcher
from ukscp.firmware.slots import FirmwareSlots, SlotOrigin, SlotPointer, parse_origin
from ukscp.security.seclog import SecurityLog

ROOT = make_root()
SIGNER = make_signer(ROOT)
ATTACKER_ROOT = make_root("Attacker Root")
ATTACKER = make_signer(ATTACKER_ROOT, common_name="Attacker Signing")
INSTALLED = "0.1.0"  # the factory package's version
LATER = NOW + timedelta(days=3)


def _judge(slots: FirmwareSlots, pointer: SlotPointer | None = None) -> list[str]:
    active = slots.active() if pointer is None else pointer
    assert active is not None
    return judge_origin(
        slots.evidence(active), [ROOT.certificate], now=LATER, installed_version=INSTALLED
    )


@pytest.fixture
def slots(tmp_path: Path) -> FirmwareSlots:
    slots = FirmwareSlots(tmp_path / "data")
    install_slot(slots, wheel_bytes("0.2.0"), "0.2.0", signer=SIGNER)
    return slots


def test_a_slot_installed_from_signed_firmware_boots(slots: FirmwareSlots) -> None:
    assert _judge(slots) == []


def test_a_slot_of_the_whole_package_boots(tmp_path: Path) -> None:
    slots = FirmwareSlots(tmp_path)
    install_slot(slots, package_wheel("0.2.0"), "0.2.0", signer=SIGNER)
    assert _judge(slots) == []


def test_a_wheel_replaced_with_the_digests_rewritten_is_refused(slots: FirmwareSlots) -> None:
    active = slots.active()
    assert active is not None
    genuine = parse_origin(slots.origin_path(active.slot).read_bytes())
    assert isinstance(genuine, SlotOrigin)
    evil = build_wheel({"ukscp/__init__.py": b"import os\nos.system('evil')\n"}, "0.2.0")
    # The manufacturer's certificate and signature kept as they were; the wheel is not theirs.
    forge_slot(slots, evil, certificate=genuine.signing_certificate, signature=genuine.signature)
    assert _judge(slots) == [
        "not signed by the manufacturer: the ECDSA SHA-256 signature does not match the file"
    ]


def test_an_attacker_s_own_signing_certificate_is_refused(slots: FirmwareSlots) -> None:
    evil = wheel_bytes("0.2.0")
    forge_slot(slots, evil, certificate=ATTACKER.pem, signature=sign(ATTACKER, evil))
    (problem,) = _judge(slots)
    assert problem.startswith(
        "not signed by the manufacturer: the signing certificate"
        " CN=Attacker Signing,O=Example Chargers Ltd does not chain to the manufacturer root"
    )


def test_an_attacker_s_chain_up_to_their_own_root_is_refused(slots: FirmwareSlots) -> None:
    evil = wheel_bytes("0.2.0")
    chain = ATTACKER.pem + ATTACKER_ROOT.pem
    forge_slot(slots, evil, certificate=chain, signature=sign(ATTACKER, evil))
    (problem,) = _judge(slots)
    assert "does not chain to the manufacturer root" in problem


def test_a_replaced_signature_is_refused(slots: FirmwareSlots) -> None:
    active = slots.active()
    assert active is not None
    wheel = (slots.slot_dir(active.slot) / active.wheel).read_bytes()
    forge_slot(slots, wheel, certificate=SIGNER.pem, signature=sign(ATTACKER, wheel))
    assert _judge(slots) == [
        "not signed by the manufacturer: the ECDSA SHA-256 signature does not match the file"
    ]


def test_a_changed_file_with_its_digests_rewritten_is_refused(slots: FirmwareSlots) -> None:
    active = slots.active()
    assert active is not None
    target = slots.site_dir(active.slot) / "ukscp" / "__init__.py"
    target.write_text("import os\nos.system('evil')\n")
    rerecord(slots)
    assert _judge(slots) == ["not the signed wheel's files: changed: ukscp/__init__.py"]


def test_bytecode_planted_in_the_slot_is_refused(slots: FirmwareSlots) -> None:
    # A checked-hash .pyc runs whatever code it holds once its header matches the
    # source: it must not be in a slot at all.
    active = slots.active()
    assert active is not None
    cache = slots.site_dir(active.slot) / "ukscp" / "__pycache__"
    cache.mkdir()
    pyc = f"__init__.{sys.implementation.cache_tag}.pyc"
    (cache / pyc).write_bytes(b"\x00" * 16)
    rerecord(slots)
    assert _judge(slots) == [f"not the signed wheel's files: added: ukscp/__pycache__/{pyc}"]


def test_a_removed_file_and_a_missing_origin_are_named(slots: FirmwareSlots) -> None:
    active = slots.active()
    assert active is not None
    (slots.site_dir(active.slot) / "ukscp-0.2.0.dist-info" / "WHEEL").unlink()
    slots.origin_path(active.slot).unlink()
    rerecord(slots)
    assert _judge(slots) == [
        "not signed: missing: origin.json (who signed the slot is not known)",
        "not the signed wheel's files: missing: ukscp-0.2.0.dist-info/WHEEL",
    ]


def test_an_older_signed_firmware_put_back_is_refused(tmp_path: Path) -> None:
    slots = FirmwareSlots(tmp_path)
    install_slot(slots, wheel_bytes("0.0.9"), "0.0.9", signer=SIGNER)
    assert _judge(slots) == [
        "version: version 0.0.9 is older than the running 0.1.0: rollback refused"
    ]


def test_a_pointer_naming_another_version_is_refused(slots: FirmwareSlots) -> None:
    active = slots.active()
    assert active is not None
    assert _judge(slots, replace(active, version="9.9.9")) == [
        "version: the wheel holds ukscp 0.2.0, the pointer names 9.9.9"
    ]


def test_with_no_root_provisioned_no_slot_boots_and_the_words_say_why(
    slots: FirmwareSlots,
) -> None:
    active = slots.active()
    assert active is not None
    problems = judge_origin(slots.evidence(active), NO_ROOT, now=LATER, installed_version=INSTALLED)
    assert problems == [
        "not booted: no manufacturer root certificate is provisioned"
        " (updates.firmware_root_ca_file is unset), so no firmware slot can be proven"
        " to be the manufacturer's"
    ]
    assert judge_origin(slots.evidence(active), [], now=LATER, installed_version=INSTALLED) == [
        "not signed by the manufacturer: no manufacturer root certificate is provisioned"
        " (updates.firmware_root_ca_file): no signing certificate can be trusted"
    ]


def test_a_signing_certificate_expired_since_the_install_still_boots(tmp_path: Path) -> None:
    short = make_signer(ROOT, not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=1))
    slots = FirmwareSlots(tmp_path)
    install_slot(slots, wheel_bytes("0.2.0"), "0.2.0", signer=short)
    active = slots.active()
    assert active is not None
    years_later = NOW + timedelta(days=900)
    assert (
        judge_origin(
            slots.evidence(active), [ROOT.certificate], now=years_later, installed_version=INSTALLED
        )
        == []
    )


def test_the_chain_is_checked_as_at_the_install_never_later_than_now() -> None:
    assert check_time(NOW.isoformat(), LATER) == NOW
    assert check_time((LATER + timedelta(days=1)).isoformat(), LATER) == LATER  # a future claim
    assert check_time("not a time", LATER) == LATER
    assert check_time("2026-01-05T00:00:00", LATER) == LATER  # no zone: not trusted


# ----------------------------------------------------------------------------- the shell


def _launcher(slots: FirmwareSlots, tmp_path: Path, root: Path | None) -> Launcher:
    return Launcher(
        slots=slots,
        seclog_path=tmp_path / "seclog.sqlite3",
        clock=VirtualClock(start=LATER),
        command=ChildCommand(sys.executable, [], {}, 3),
        installed_version=INSTALLED,
        out=io.StringIO(),
        root_ca_file=root,
    )


def _seclog(tmp_path: Path) -> list[tuple[str, bool, str]]:
    log = SecurityLog(tmp_path / "seclog.sqlite3", VirtualClock())
    try:
        return [(r.type, r.critical, r.info) for r in log.records()]
    finally:
        log.close()


def test_the_launcher_boots_a_signed_slot(slots: FirmwareSlots, tmp_path: Path) -> None:
    root = write_root(tmp_path / "root.pem", ROOT)
    plan = _launcher(slots, tmp_path, root).prepare()
    assert plan.run is not None and plan.run.version == "0.2.0" and plan.fallbacks == ()


def test_the_launcher_falls_back_from_a_forged_slot_as_from_a_changed_one(
    slots: FirmwareSlots, tmp_path: Path
) -> None:
    evil = wheel_bytes("0.2.0")
    forge_slot(slots, evil, certificate=ATTACKER.pem, signature=sign(ATTACKER, evil))
    root = write_root(tmp_path / "root.pem", ROOT)
    plan = _launcher(slots, tmp_path, root).prepare()
    assert plan.run is None  # the installed package
    assert slots.active() is None  # the pointer went back
    assert [(r["request_id"], r["status"]) for r in slots.reports()] == [
        (7, "InstallVerificationFailed")
    ]
    ((kind, critical, info),) = _seclog(tmp_path)
    assert (kind, critical) == ("IntegrityCheckFailed", True)
    assert "slot b (ukscp 0.2.0) failed its boot check: not signed by the manufacturer" in info
    assert (
        "CN=Attacker Signing,O=Example Chargers Ltd does not chain to the manufacturer root" in info
    )
    assert info.endswith(f"booting the installed package (ukscp {INSTALLED})")


@pytest.mark.parametrize("where", ["unset", "in the data directory", "unreadable"])
def test_without_a_usable_root_the_launcher_boots_no_slot_and_says_why(
    slots: FirmwareSlots, tmp_path: Path, where: str
) -> None:
    root: Path | None = None
    words = "no manufacturer root certificate is provisioned"
    if where == "in the data directory":
        root = write_root(slots.root.parent / "root.pem", ROOT)
        words = "lies in the data directory"
    elif where == "unreadable":
        root = tmp_path / "root.pem"
        root.write_text("not a certificate")
        words = "the manufacturer root cannot be used"
    plan = _launcher(slots, tmp_path, root).prepare()
    assert plan.run is None and slots.active() is None
    ((kind, critical, info),) = _seclog(tmp_path)
    assert (kind, critical) == ("IntegrityCheckFailed", True)
    assert "failed its boot check: not booted: " in info and words in info
