"""``ukscp boot``: the real launcher and charger processes, a real OCPP 1.6 central system.

The central system is the ``ocpp`` library's (tests/integration/test_ocpp16_support.py)
on 127.0.0.1, in the test's own event loop; the firmware is a wheel of the whole
installed package at a higher version, built and signed here, served over HTTP on
127.0.0.1. The charger runs as ``ukscp boot``, which starts ``ukscp run`` from the
active firmware slot and starts it again when it asks to restart.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ocpp.v16 import call
from packaging.version import Version

import ukscp
from tests.e2e.conftest import RunningCharger, start_charger
from tests.firmware_support import (
    FirmwareServer,
    forge_slot,
    install_slot,
    make_root,
    make_signer,
    package_wheel,
    rerecord,
    sign,
    wheel_filename,
    write_root,
)
from tests.integration.test_ocpp16_support import CsmsServer, running_csms
from ukscp.firmware.slots import FirmwareSlots
from ukscp.ocpp.blocks.meter_values.readings import ocpp_time

pytestmark = pytest.mark.e2e

IDENTITY = "CP_BOOT_E2E"
KEY = "e2e-boot-authorization-key-5f2a"  # a test key for a temporary charger
RUNNING = ukscp.__version__
_base = Version(RUNNING)
NEW = f"{_base.major}.{_base.minor}.{_base.micro + 1}"
ROOT = make_root()
_now = datetime.now(UTC)
SIGNER = make_signer(ROOT, not_before=_now - timedelta(days=1), not_after=_now + timedelta(days=30))
ATTACKER = make_signer(make_root("Attacker Root"), common_name="Attacker Signing")


class Output:
    """Keeps reading the launcher's output (so its pipe never fills), line by line."""

    def __init__(self, charger: RunningCharger) -> None:
        self.lines: list[str] = []
        stream = charger.process.stdout
        assert stream is not None
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.append(line)

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)


async def until(predicate: Callable[[], bool], what: str, within_s: float = 20) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def csms() -> AsyncIterator[CsmsServer]:
    async with running_csms(basic_auth=(IDENTITY, KEY), heartbeat_interval=60) as server:
        yield server


@pytest.fixture
def files() -> Iterator[FirmwareServer]:
    server = FirmwareServer(time)
    server.start()
    yield server
    server.stop()


def charger_config(tmp_path: Path, csms: CsmsServer) -> Path:
    key_file = tmp_path / "ocpp_key"
    key_file.write_text(KEY)
    key_file.chmod(0o600)
    root = write_root(tmp_path / "firmware-root.pem", ROOT)
    config = tmp_path / "charger.yaml"
    config.write_text(
        "ocpp: {enabled: true, version: '1.6', "
        f"url: 'ws://127.0.0.1:{csms.port}/ocpp', identity: {IDENTITY}, security_profile: 1, "
        f"authorization_key_file: '{key_file}', allow_insecure_transport: true, "
        "allow_private_targets: true}\n"  # the firmware's file server is on 127.0.0.1
        f"updates: {{firmware_root_ca_file: '{root}'}}\n"
    )
    return config


async def boot(data: Path, config: Path) -> tuple[RunningCharger, Output]:
    charger = await asyncio.to_thread(
        start_charger, data, "--config", str(config), subcommand="boot"
    )
    return charger, Output(charger)


def statuses(csms: CsmsServer) -> list[tuple[int | None, str]]:
    return [
        (p.get("request_id"), p["status"]) for p in csms.of("SignedFirmwareStatusNotification")
    ]


def boot_versions(csms: CsmsServer) -> list[str]:
    return [p["firmware_version"] for p in csms.of("BootNotification")]


def install_directly(data: Path, wheel: bytes, request_id: int) -> FirmwareSlots:
    """A slot as the installer leaves it just before its restart (the installer's own calls)."""
    slots = FirmwareSlots(data)
    install_slot(
        slots, wheel, NEW, signer=SIGNER, request_id=request_id, installed_at=datetime.now(UTC)
    )
    return slots


async def test_signed_firmware_installs_restarts_into_the_new_version_and_reports_installed(
    tmp_path: Path, csms: CsmsServer, files: FirmwareServer
) -> None:
    data = tmp_path / "data"
    charger, output = await boot(data, charger_config(tmp_path, csms))
    try:
        await until(lambda: csms.cp is not None and boot_versions(csms) == [RUNNING], "boot")
        wheel = package_wheel(NEW)
        url = files.publish(wheel_filename(NEW), wheel)
        answer = await csms.call(
            call.SignedUpdateFirmware(
                request_id=41,
                firmware={
                    "location": url,
                    "retrieve_date_time": ocpp_time(datetime.now(UTC)),
                    "signing_certificate": SIGNER.pem,
                    "signature": sign(SIGNER, wheel),
                },
            )
        )
        assert answer.status == "Accepted"
        # The same launcher process starts the charger again, from the new slot.
        await until(lambda: len(boot_versions(csms)) == 2, "the second BootNotification")
        assert boot_versions(csms) == [RUNNING, NEW]
        await until(lambda: (41, "Installed") in statuses(csms), "Installed")
        assert statuses(csms) == [
            (41, "Downloading"),
            (41, "Downloaded"),
            (41, "SignatureVerified"),
            (41, "Installing"),
            (41, "InstallRebooting"),  # before the restart
            (41, "Installed"),  # from the new firmware, after its BootNotification
        ]
        order = [
            (r.action, r.payload.get("status"), r.connection)
            for r in csms.received
            if r.action in ("BootNotification", "SignedFirmwareStatusNotification")
        ]
        assert order[-2][0] == "BootNotification" and order[-1][1] == "Installed"
        assert order[-1][2] > order[1][2]  # Installed came over the new connection
        assert charger.process.poll() is None  # one launcher throughout
        await until(lambda: output.count("charger ready at") == 1, "the second ready line")
        pointer = json.loads((data / "firmware" / "active.json").read_text())
        assert (pointer["slot"], pointer["version"], pointer["confirmed"]) == ("b", NEW, True)
        assert not (data / "firmware" / "reports.json").exists()
        assert any(
            p["type"] == "FirmwareUpdated" for p in csms.of("SecurityEventNotification")
        )
    finally:
        assert await asyncio.to_thread(charger.stop) == 0


async def test_a_slot_changed_after_its_install_is_refused_and_the_charger_falls_back(
    tmp_path: Path, csms: CsmsServer
) -> None:
    data = tmp_path / "data"
    slots = install_directly(data, package_wheel(NEW), request_id=42)
    target = slots.site_dir("b") / "ukscp" / "app.py"
    target.write_text(target.read_text() + "\n# changed after the install\n")
    charger, _ = await boot(data, charger_config(tmp_path, csms))
    try:
        await until(lambda: (42, "InstallVerificationFailed") in statuses(csms), "the report")
        assert boot_versions(csms) == [RUNNING]  # the installed package runs
        assert statuses(csms) == [(42, "InstallVerificationFailed")]
        assert slots.active() is None  # the pointer went back
        await until(
            lambda: "IntegrityCheckFailed"
            in [p["type"] for p in csms.of("SecurityEventNotification")],
            "the security event",
        )
        log = (await asyncio.to_thread(charger.client.get, "/api/v1/security-log")).json()
        refused = [r for r in log if r["type"] == "IntegrityCheckFailed"]
        assert refused and refused[0]["critical"] is True
        assert "changed: ukscp/app.py" in refused[0]["info"]
        assert f"booting the installed package (ukscp {RUNNING})" in refused[0]["info"]
    finally:
        assert await asyncio.to_thread(charger.stop) == 0


async def test_a_new_firmware_that_dies_at_its_first_start_is_replaced_by_the_old_one(
    tmp_path: Path, csms: CsmsServer
) -> None:
    data = tmp_path / "data"
    broken = package_wheel(NEW, changes={"cli.py": b'raise SystemExit("cannot start")\n'})
    slots = install_directly(data, broken, request_id=43)
    charger, _ = await boot(data, charger_config(tmp_path, csms))
    try:
        await until(lambda: (43, "InstallationFailed") in statuses(csms), "the report")
        assert boot_versions(csms) == [RUNNING]
        assert slots.active() is None
        log = (await asyncio.to_thread(charger.client.get, "/api/v1/security-log")).json()
        failed = [r for r in log if r["type"] == "UpdateRejected"]
        assert failed and failed[0]["critical"] is True
        assert "exited with code 1 before it was ready" in failed[0]["info"]
    finally:
        assert await asyncio.to_thread(charger.stop) == 0


async def test_a_new_firmware_that_never_becomes_ready_is_stopped_and_replaced(
    tmp_path: Path, csms: CsmsServer
) -> None:
    data = tmp_path / "data"
    hangs = package_wheel(NEW, changes={"cli.py": b"import time\ntime.sleep(3600)\n"})
    slots = install_directly(data, hangs, request_id=44)
    config = charger_config(tmp_path, csms)
    started = time.monotonic()
    charger = await asyncio.to_thread(
        start_charger, data, "--config", str(config), "--ready-timeout", "3", subcommand="boot"
    )
    try:
        assert time.monotonic() - started >= 3  # it was given its time first
        await until(lambda: (44, "InstallationFailed") in statuses(csms), "the report")
        assert boot_versions(csms) == [RUNNING]
        assert slots.active() is None
        log = (await asyncio.to_thread(charger.client.get, "/api/v1/security-log")).json()
        failed = [r for r in log if r["type"] == "UpdateRejected"]
        assert failed and "was not ready after 3 s" in failed[0]["info"]
    finally:
        assert await asyncio.to_thread(charger.stop) == 0


def _rewrite_files(slots: FirmwareSlots) -> str:
    """Change a file of the slot, then make site.json and active.json agree with it."""
    active = slots.active()
    assert active is not None
    target = slots.site_dir(active.slot) / "ukscp" / "app.py"
    target.write_text(target.read_text() + "\n# the attacker's code\n")
    rerecord(slots)
    return "not the signed wheel's files: changed: ukscp/app.py"


def _replace_everything(slots: FirmwareSlots) -> str:
    """The attacker's own wheel, signed with their own certificate, every digest made to agree."""
    evil = package_wheel(NEW, changes={"app.py": b"raise SystemExit('the attacker ran')\n"})
    forge_slot(slots, evil, certificate=ATTACKER.pem, signature=sign(ATTACKER, evil))
    return (
        "not signed by the manufacturer: the signing certificate"
        " CN=Attacker Signing,O=Example Chargers Ltd does not chain to the manufacturer root"
    )


@pytest.mark.parametrize("attack", [_rewrite_files, _replace_everything], ids=["files", "whole"])
async def test_a_slot_rewritten_with_consistent_digests_is_refused_and_the_charger_falls_back(
    tmp_path: Path, csms: CsmsServer, attack: Callable[[FirmwareSlots], str]
) -> None:
    data = tmp_path / "data"
    slots = install_directly(data, package_wheel(NEW), request_id=45)
    words = attack(slots)
    active = slots.active()
    assert active is not None and slots.verify(active) == []  # the recorded digests agree
    charger, _ = await boot(data, charger_config(tmp_path, csms))
    try:
        await until(lambda: (45, "InstallVerificationFailed") in statuses(csms), "the report")
        assert boot_versions(csms) == [RUNNING]  # the installed package runs, not the slot
        assert slots.active() is None  # the pointer went back
        log = (await asyncio.to_thread(charger.client.get, "/api/v1/security-log")).json()
        refused = [r for r in log if r["type"] == "IntegrityCheckFailed"]
        assert refused and refused[0]["critical"] is True
        assert f"slot b (ukscp {NEW}) failed its boot check: " in refused[0]["info"]
        assert words in refused[0]["info"]
        assert f"booting the installed package (ukscp {RUNNING})" in refused[0]["info"]
    finally:
        assert await asyncio.to_thread(charger.stop) == 0


async def test_with_no_root_provisioned_the_launcher_boots_no_slot_and_says_why(
    tmp_path: Path, csms: CsmsServer
) -> None:
    data = tmp_path / "data"
    slots = install_directly(data, package_wheel(NEW), request_id=46)
    config = charger_config(tmp_path, csms)
    config.write_text(
        "\n".join(line for line in config.read_text().splitlines() if "updates" not in line)
    )
    charger, _ = await boot(data, config)
    try:
        await until(lambda: (46, "InstallVerificationFailed") in statuses(csms), "the report")
        assert boot_versions(csms) == [RUNNING]
        assert slots.active() is None
        log = (await asyncio.to_thread(charger.client.get, "/api/v1/security-log")).json()
        refused = [r for r in log if r["type"] == "IntegrityCheckFailed"]
        assert refused and "no manufacturer root certificate is provisioned" in refused[0]["info"]
    finally:
        assert await asyncio.to_thread(charger.stop) == 0
