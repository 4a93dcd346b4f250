"""Booting a firmware slot: which slot starts, when to fall back, what a changed slot is.

The decisions (:func:`plan_boot`, :func:`judge_exit`, :func:`start_failure`) are
pure; the slot files are real (a wheel unpacked into a temporary data directory).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from tests.firmware_support import (
    build_wheel,
    install_slot,
    make_root,
    make_signer,
    wheel_bytes,
    wheel_filename,
)
from ukscp.clock import VirtualClock
from ukscp.firmware.boot import Next, exit_status, judge_exit, plan_boot, start_failure
from ukscp.firmware.install import FirmwareInstaller
from ukscp.firmware.launcher import ChildCommand
from ukscp.firmware.site import compare_files, unpack_wheel
from ukscp.firmware.slots import FirmwareSlots, SlotPointer
from ukscp.firmware.status import FirmwareStatus, Step
from ukscp.firmware.wheel import NotAWheel
from ukscp.security.seclog import SecurityLog

RESTART = 3


def _pointer(
    slot: str,
    version: str,
    *,
    confirmed: bool = False,
    request_id: int | None = 7,
    previous: SlotPointer | None = None,
) -> SlotPointer:
    return SlotPointer(
        slot=slot,
        version=version,
        wheel=wheel_filename(version),
        sha256="ab" * 32,
        request_id=request_id,
        installed_at="2026-01-05T00:00:00+00:00",
        previous=None if previous is None else previous.as_dict(),
        site_sha256="cd" * 32,
        confirmed=confirmed,
    )


OLD = _pointer("a", "0.2.0", confirmed=True, request_id=5)
NEW = _pointer("b", "0.3.0", previous=OLD)


# ----------------------------------------------------------------------------- plan_boot


def test_with_no_slot_the_installed_package_runs() -> None:
    assert plan_boot(None, {}) == plan_boot(None, {"a": ["changed: x"]})
    plan = plan_boot(None, {})
    assert plan.run is None and not plan.trial and plan.fallbacks == ()


def test_an_intact_new_slot_runs_on_trial_and_a_confirmed_one_does_not() -> None:
    plan = plan_boot(NEW, {"b": []})
    assert plan.run == NEW and plan.trial and plan.fallbacks == ()
    confirmed = _pointer("b", "0.3.0", confirmed=True, previous=OLD)
    assert not plan_boot(confirmed, {"b": []}).trial


def test_a_changed_slot_falls_back_to_the_previous_one_and_owes_install_verification_failed() -> (
    None
):
    plan = plan_boot(NEW, {"b": ["changed: ukscp/cli.py"], "a": []})
    assert plan.run is not None and (plan.run.slot, plan.run.version) == ("a", "0.2.0")
    assert not plan.trial  # the previous slot ran before
    (fallback,) = plan.fallbacks
    assert fallback.failed == NEW and fallback.step is Step.BOOT_REFUSED
    assert "changed: ukscp/cli.py" in fallback.reason
    assert fallback.to is not None and fallback.to.slot == "a"
    assert fallback.report == (7, FirmwareStatus.INSTALL_VERIFICATION_FAILED)


def test_when_both_slots_changed_the_installed_package_runs() -> None:
    plan = plan_boot(NEW, {"b": ["added: ukscp/evil.py"], "a": ["missing: ukscp/app.py"]})
    assert plan.run is None and not plan.trial
    assert [f.failed.slot for f in plan.fallbacks] == ["b", "a"]
    assert [None if f.to is None else f.to.slot for f in plan.fallbacks] == ["a", None]
    # The previous slot's request was answered long ago: nothing more owed for it.
    assert [f.report for f in plan.fallbacks] == [
        (7, FirmwareStatus.INSTALL_VERIFICATION_FAILED),
        None,
    ]


def test_a_first_install_falls_back_to_the_installed_package() -> None:
    first = _pointer("b", "0.2.0")
    plan = plan_boot(first, {"b": ["changed: site.json"]})
    assert plan.run is None
    assert plan.fallbacks[0].to is None


def test_a_confirmed_slot_changed_later_is_refused_but_owes_no_firmware_status() -> None:
    confirmed = _pointer("b", "0.3.0", confirmed=True, previous=OLD)
    plan = plan_boot(confirmed, {"b": ["changed: ukscp/app.py"], "a": []})
    assert plan.run is not None and plan.run.slot == "a"
    assert plan.fallbacks[0].report is None  # a security event only


# ----------------------------------------------------------------------------- judge_exit


@pytest.mark.parametrize(
    ("code", "ready", "trial", "stopping", "expected"),
    [
        (RESTART, True, False, False, Next.RESTART),  # a CSMS Reset or a firmware install
        (RESTART, True, True, False, Next.RESTART),
        (0, True, False, False, Next.EXIT),
        (2, True, False, False, Next.EXIT),  # a confirmed slot's failure: the service's
        (2, False, False, False, Next.EXIT),
        (1, False, True, False, Next.FALL_BACK),  # died at its first start
        (-9, False, True, False, Next.FALL_BACK),  # killed at its first start
        (None, False, True, False, Next.FALL_BACK),  # never became ready
        (RESTART, False, True, False, Next.FALL_BACK),  # asked to restart before ever serving
        (0, False, True, False, Next.EXIT),  # stopped cleanly by someone else
        (1, False, True, True, Next.EXIT),  # our own stop: never a fallback
        (RESTART, True, False, True, Next.EXIT),
    ],
)
def test_what_follows_a_child_s_end(
    code: int | None, ready: bool, trial: bool, stopping: bool, expected: Next
) -> None:
    verdict = judge_exit(code, ready=ready, trial=trial, stopping=stopping, restart_code=RESTART)
    assert verdict is expected


def test_a_start_failure_goes_back_to_the_previous_slot_and_owes_installation_failed() -> None:
    crashed = start_failure(NEW, 1, 60)
    assert crashed.to is not None and crashed.to.slot == "a"
    assert crashed.report == (7, FirmwareStatus.INSTALLATION_FAILED)
    assert "exited with code 1 before it was ready" in crashed.reason
    hung = start_failure(_pointer("b", "0.2.0"), None, 60)
    assert hung.to is None and "was not ready after 60 s" in hung.reason


def test_exit_codes_pass_through_and_signals_become_128_plus_n() -> None:
    assert [exit_status(c) for c in (0, 2, -15, None)] == [0, 2, 143, 1]


def test_the_child_runs_the_slot_first_on_the_path_without_the_working_directory() -> None:
    command = ChildCommand("python3", ["--port", "8443"], {"PYTHONPATH": "/x"}, RESTART)
    assert command.argv(Path("/run/bytecode")) == [
        "python3", "-P", "-X", "pycache_prefix=/run/bytecode", "-m", "ukscp.cli", "run",
        "--port", "8443",
    ]
    assert command.argv(None)[:3] == ["python3", "-P", "-m"]
    assert command.environment(Path("/slot/site"))["PYTHONPATH"] == "/slot/site:/x"
    assert command.environment(None)["PYTHONPATH"] == "/x"


# ----------------------------------------------------------------------------- slot files


_SIGNER = make_signer(make_root())


def _install(slots: FirmwareSlots, data: bytes, version: str = "0.2.0") -> SlotPointer:
    pointer = install_slot(slots, data, version, signer=_SIGNER)
    assert isinstance(pointer, SlotPointer)
    return replace(pointer, previous=None)


def test_an_unpacked_slot_is_intact_and_holds_the_wheel_s_files_only(tmp_path: Path) -> None:
    slots = FirmwareSlots(tmp_path)
    pointer = _install(slots, wheel_bytes("0.2.0"))
    site = slots.site_dir("b")
    assert sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()) == [
        "ukscp-0.2.0.dist-info/METADATA",
        "ukscp-0.2.0.dist-info/RECORD",
        "ukscp-0.2.0.dist-info/WHEEL",
        "ukscp/__init__.py",
    ]  # no bytecode: the wheel does not sign any
    assert slots.verify(pointer) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda site: (site / "ukscp" / "__init__.py").write_text("evil = 1\n"),
         "changed: ukscp/__init__.py"),
        (lambda site: (site / "ukscp" / "sitecustomize.py").write_text("evil = 1\n"),
         "added: ukscp/sitecustomize.py"),
        (lambda site: (site / "ukscp" / "__init__.py").unlink(), "missing: ukscp/__init__.py"),
        (lambda site: (site / "ukscp" / "link.py").symlink_to("/etc/hostname"),
         "added: ukscp/link.py"),
    ],
    ids=["changed", "added", "removed", "symlink"],
)
def test_any_change_to_the_unpacked_files_is_named(
    tmp_path: Path, change: object, expected: str
) -> None:
    slots = FirmwareSlots(tmp_path)
    pointer = _install(slots, wheel_bytes("0.2.0"))
    change(slots.site_dir("b"))  # type: ignore[operator]
    assert slots.verify(pointer) == [expected]


def test_a_rewritten_record_of_the_files_is_caught_by_the_pointer(tmp_path: Path) -> None:
    slots = FirmwareSlots(tmp_path)
    pointer = _install(slots, wheel_bytes("0.2.0"))
    (slots.site_dir("b") / "ukscp" / "__init__.py").write_text("evil = 1\n")
    manifest = slots.manifest_path("b")
    manifest.write_text(manifest.read_text().replace('"ukscp/__init__.py"', '"ukscp/x.py"'))
    assert slots.verify(pointer) == ["changed: site.json"]


def test_a_changed_wheel_is_named_too(tmp_path: Path) -> None:
    slots = FirmwareSlots(tmp_path)
    pointer = _install(slots, wheel_bytes("0.2.0"))
    (slots.slot_dir("b") / wheel_filename("0.2.0")).write_bytes(b"other")
    assert slots.verify(pointer) == [f"changed: {wheel_filename('0.2.0')}"]


def _raw_wheel(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("members", "words"),
    [
        ({"../evil.py": b"x"}, "would leave the slot"),
        ({"/etc/evil.py": b"x"}, "would leave the slot"),
        ({"ukscp/../../evil.py": b"x"}, "would leave the slot"),
        ({"other/evil.py": b"x"}, "outside ukscp/"),
        ({"ukscp-0.2.0.data/scripts/evil": b"x"}, "outside ukscp/"),
        ({"ukscp\\..\\evil.py": b"x"}, "not a plain relative path"),
    ],
)
def test_a_wheel_member_that_could_leave_the_slot_is_refused(
    tmp_path: Path, members: dict[str, bytes], words: str
) -> None:
    wheel = tmp_path / wheel_filename("0.2.0")
    wheel.write_bytes(
        build_wheel({"ukscp/__init__.py": b"", **members}, "0.2.0")
    )
    with pytest.raises(NotAWheel, match=words):
        unpack_wheel(wheel, tmp_path / "site")
    assert not (tmp_path / "site").exists()
    assert not (tmp_path / "evil.py").exists()


def test_a_member_not_matching_record_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    good = zipfile.ZipFile(io.BytesIO(wheel_bytes("0.2.0")))
    members = {name: good.read(name) for name in good.namelist()}
    members["ukscp/__init__.py"] = b"import os  # not what RECORD says\n"
    wheel = tmp_path / wheel_filename("0.2.0")
    wheel.write_bytes(_raw_wheel(members))
    with pytest.raises(NotAWheel, match="does not match its RECORD hash"):
        unpack_wheel(wheel, tmp_path / "site")
    assert not (tmp_path / "site").exists()


def test_a_member_missing_from_record_is_refused(tmp_path: Path) -> None:
    good = zipfile.ZipFile(io.BytesIO(wheel_bytes("0.2.0")))
    members = {name: good.read(name) for name in good.namelist()}
    members["ukscp/extra.py"] = b"x = 1\n"
    wheel = tmp_path / wheel_filename("0.2.0")
    wheel.write_bytes(_raw_wheel(members))
    with pytest.raises(NotAWheel, match="not listed in RECORD"):
        unpack_wheel(wheel, tmp_path / "site")


def test_compare_files_names_each_difference_in_path_order() -> None:
    recorded = {"a.py": "1", "b.py": "2", "c.py": "3"}
    found = {"a.py": "1", "b.py": "9", "d.py": "4"}
    assert compare_files(recorded, found) == ["changed: b.py", "missing: c.py", "added: d.py"]


def test_fall_back_and_confirm_rewrite_the_pointer(tmp_path: Path) -> None:
    slots = FirmwareSlots(tmp_path)
    first = _install(slots, wheel_bytes("0.2.0"))
    slots.confirm()
    second = _install(slots, wheel_bytes("0.3.0"), "0.3.0")
    active = slots.active()
    assert active is not None and active.slot == "a" and not active.confirmed
    assert active.previous_pointer is not None and active.previous_pointer.confirmed
    slots.fall_back(active.previous_pointer)
    back = slots.active()
    assert back is not None and (back.slot, back.version, back.confirmed) == ("b", "0.2.0", True)
    assert back.previous is None
    assert slots.verify(back) == []  # the slot it went back to was not touched
    slots.fall_back(None)
    assert slots.active() is None
    assert (first.slot, second.slot) == ("b", "a")


def test_reports_wait_for_the_charger_then_go(tmp_path: Path) -> None:
    slots = FirmwareSlots(tmp_path)
    assert slots.reports() == []
    slots.add_report(7, "InstallVerificationFailed", "slot b changed")
    slots.add_report(8, "Installed", "ok")
    assert [(r["request_id"], r["status"]) for r in slots.reports()] == [
        (7, "InstallVerificationFailed"),
        (8, "Installed"),
    ]
    slots.clear_reports()
    assert slots.reports() == []


# ----------------------------------------------------------------------------- after the restart


class _Host:
    """The OCPP client's side, reduced to the statuses it is handed."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int]] = []

    def firmware_status(self, status: FirmwareStatus, request_id: int) -> None:
        self.sent.append((status.value, request_id))

    def charging_session_active(self) -> bool:
        return False

    async def restart_for_firmware(self) -> None:
        return None


def _installer(
    tmp_path: Path, slots: FirmwareSlots, version: str, package: Path
) -> FirmwareInstaller:
    return FirmwareInstaller(
        clock=VirtualClock(),
        seclog=SecurityLog(tmp_path / "seclog.sqlite3", VirtualClock()),
        slots=slots,
        root_ca_file=None,
        running_version=version,
        running_package=package,
    )


def test_the_new_firmware_confirms_its_slot_and_sends_installed_once(tmp_path: Path) -> None:
    slots = FirmwareSlots(tmp_path)
    _install(slots, wheel_bytes("0.2.0"))
    installer = _installer(tmp_path, slots, "0.2.0", slots.site_dir("b") / "ukscp")
    host = _Host()
    installer.attach(host)
    installer.confirm_boot()
    installer.confirm_boot()
    assert host.sent == [("Installed", 7)]
    active = slots.active()
    assert active is not None and active.confirmed
    assert slots.reports() == []


def test_the_factory_package_run_by_hand_confirms_nothing(tmp_path: Path) -> None:
    slots = FirmwareSlots(tmp_path)
    _install(slots, wheel_bytes("0.2.0"))
    installer = _installer(tmp_path, slots, "0.2.0", tmp_path / "elsewhere" / "ukscp")
    host = _Host()
    installer.attach(host)
    installer.confirm_boot()
    assert host.sent == []
    active = slots.active()
    assert active is not None and not active.confirmed


def test_what_the_launcher_found_goes_to_the_first_client_in_order(tmp_path: Path) -> None:
    slots = FirmwareSlots(tmp_path)
    slots.add_report(7, "InstallVerificationFailed", "slot b changed")
    slots.add_report(8, "InstallationFailed", "slot a exited with code 1")
    installer = _installer(tmp_path, slots, "0.1.0", tmp_path / "ukscp")
    first, second = _Host(), _Host()
    installer.attach(first)
    installer.attach(second)
    assert first.sent == [("InstallVerificationFailed", 7), ("InstallationFailed", 8)]
    assert second.sent == []  # not twice
