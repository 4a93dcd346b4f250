"""SignedUpdateFirmware end to end: a real OCPP 1.6 central system and a real HTTP server.

The central system (``ocpp`` library, 127.0.0.1) sends SignedUpdateFirmware; the
charger downloads a wheel built here from an HTTP server on 127.0.0.1, checks the
certificate (made here with ``cryptography``) and the signature, and reports each
step as SignedFirmwareStatusNotification. All waits are on the virtual clock.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call

from tests.firmware_support import (
    NOW,
    FirmwareServer,
    Issued,
    make_root,
    make_signer,
    sign,
    wheel_bytes,
    wheel_filename,
    write_root,
)
from tests.integration.test_ocpp16_support import (
    TEST_OPTIONS,
    Charger,
    CsmsServer,
    FakePort,
    HungServer,
    eventually,
    running_csms,
    settle_real,
    transport_config,
    write_key,
)
from ukscp.clock import VirtualClock
from ukscp.events import EventBus
from ukscp.firmware.install import FirmwareInstaller
from ukscp.firmware.slots import FirmwareSlots
from ukscp.ocpp.blocks.meter_values.readings import ocpp_time
from ukscp.ocpp.queue import QUEUE_FILE, MessageQueue
from ukscp.ocpp.transport import Backoff, CsmsTransport
from ukscp.ocpp.v16 import OcppClient16
from ukscp.security.seclog import SECLOG_FILE, SecurityLog
from ukscp.settings_store import SettingsStore

RUNNING = "0.1.0"
# Installed follows from the new firmware after the restart (tests/e2e/test_firmware_boot_e2e.py).
SUCCESS = ["Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallRebooting"]
ROOT = make_root()
SIGNER = make_signer(ROOT, "rsa")
EC_SIGNER = make_signer(ROOT, "ec")


# ----------------------------------------------------------------------------- fixtures


@dataclass
class Rig:
    csms: CsmsServer
    charger: Charger
    installer: FirmwareInstaller
    slots: FirmwareSlots
    files: FirmwareServer
    clock: VirtualClock

    def statuses(self) -> list[str]:
        return [p["status"] for p in self.csms.of("SignedFirmwareStatusNotification")]

    def request_ids(self) -> set[int]:
        return {p["request_id"] for p in self.csms.of("SignedFirmwareStatusNotification")}

    def security_events(self) -> list[str]:
        return [p["type"] for p in self.csms.of("SecurityEventNotification")]

    def logged(self, kind: str) -> list[str]:
        return [r.info for r in self.charger.seclog.records(limit=1000) if r.type == kind]

    async def request(
        self,
        location: str,
        signature: str,
        *,
        signer: Issued = SIGNER,
        request_id: int = 7,
        retrieve_in_s: float = 0,
        install_in_s: float | None = None,
        retries: int | None = None,
        retry_interval: int | None = None,
    ) -> str:
        now = self.clock.now()
        firmware: dict[str, Any] = {
            "location": location,
            "retrieve_date_time": ocpp_time(now + timedelta(seconds=retrieve_in_s)),
            "signing_certificate": signer.pem,
            "signature": signature,
        }
        if install_in_s is not None:
            firmware["install_date_time"] = ocpp_time(now + timedelta(seconds=install_in_s))
        answer = await self.csms.call(
            call.SignedUpdateFirmware(
                request_id=request_id,
                firmware=firmware,
                retries=retries,
                retry_interval=retry_interval,
            )
        )
        return str(answer.status)

    async def until_statuses(self, count: int, what: str = "statuses") -> None:
        await eventually(lambda: len(self.statuses()) >= count, self.clock, what=what)


def build_charger(
    data: Path,
    clock: VirtualClock,
    url: str,
    root_file: Path | None,
    *,
    allow_private_targets: bool = True,  # the file server is on 127.0.0.1
    timeout_s: float = 5.0,
) -> tuple[Charger, FirmwareInstaller]:
    bus = EventBus()
    seclog = SecurityLog(data / SECLOG_FILE, clock)
    store = SettingsStore(data / "settings.sqlite3")
    transport = CsmsTransport(
        transport_config(url, data),
        clock,
        seclog,
        backoff=Backoff(initial_s=1.0, maximum_s=8.0),
        jitter=lambda: 0.5,
    )
    installer = FirmwareInstaller(
        clock=clock,
        seclog=seclog,
        slots=FirmwareSlots(data),
        root_ca_file=root_file,
        running_version=RUNNING,
        bus=bus,
        allow_plain_http=True,  # a lab server; the signature protects the file itself
        allow_private_targets=allow_private_targets,
        timeout_s=timeout_s,
        session_poll_s=60.0,
    )
    port = FakePort()
    client = OcppClient16(
        transport=transport,
        port=port,
        bus=bus,
        clock=clock,
        seclog=seclog,
        queue=MessageQueue(data / QUEUE_FILE),
        store=store,
        options=TEST_OPTIONS,
        firmware=installer,
    )
    return Charger(client, port, bus, clock, seclog, store, transport), installer


@pytest.fixture
def files(clock: VirtualClock) -> Iterator[FirmwareServer]:
    server = FirmwareServer(clock)
    server.start()
    yield server
    server.stop()


async def _rig(
    tmp_path: Path,
    clock: VirtualClock,
    files: FirmwareServer,
    root_file: Path | None,
    allow_private_targets: bool = True,
    timeout_s: float = 5.0,
) -> AsyncIterator[Rig]:
    data = tmp_path / "data"
    write_key(data / "ocpp_key")
    async with running_csms() as csms:
        charger, installer = build_charger(
            data,
            clock,
            csms.url,
            root_file,
            allow_private_targets=allow_private_targets,
            timeout_s=timeout_s,
        )
        charger.start()
        await eventually(lambda: "StatusNotification" in csms.actions(), clock, what="boot")
        try:
            yield Rig(csms, charger, installer, installer.slots, files, clock)
        finally:
            await charger.stop()


@pytest.fixture
async def rig(tmp_path: Path, clock: VirtualClock, files: FirmwareServer) -> AsyncIterator[Rig]:
    async for built in _rig(tmp_path, clock, files, write_root(tmp_path / "root.pem", ROOT)):
        yield built


@pytest.fixture
async def in_service(
    tmp_path: Path, clock: VirtualClock, files: FirmwareServer
) -> AsyncIterator[Rig]:
    """As shipped: no download from a loopback, link-local or private address."""
    root = write_root(tmp_path / "root.pem", ROOT)
    async for built in _rig(tmp_path, clock, files, root, allow_private_targets=False):
        yield built


@pytest.fixture
async def unprovisioned(
    tmp_path: Path, clock: VirtualClock, files: FirmwareServer
) -> AsyncIterator[Rig]:
    async for built in _rig(tmp_path, clock, files, None):
        yield built


def publish(rig: Rig, version: str = "0.2.0") -> tuple[str, bytes]:
    data = wheel_bytes(version)
    return rig.files.publish(wheel_filename(version), data), data


# ----------------------------------------------------------------------------- tests


@pytest.mark.parametrize("signer", [SIGNER, EC_SIGNER], ids=["rsa-pss", "ecdsa"])
async def test_signed_firmware_is_installed_in_the_other_slot_and_the_charger_restarts(
    rig: Rig, signer: Issued
) -> None:
    url, data = publish(rig)
    assert await rig.request(url, sign(signer, data), signer=signer) == "Accepted"
    await rig.until_statuses(5)
    assert rig.statuses() == SUCCESS
    assert rig.request_ids() == {7}
    active = rig.slots.active()
    assert active is not None
    assert (active.slot, active.version, active.request_id) == ("b", "0.2.0", 7)
    assert (rig.slots.slot_dir("b") / wheel_filename("0.2.0")).read_bytes() == data
    # Unpacked before the switch, and recorded: the launcher can run and check it.
    assert (rig.slots.site_dir("b") / "ukscp" / "__init__.py").read_text() == (
        '__version__ = "0.2.0"\n'
    )
    assert active.site_sha256 is not None and not active.confirmed
    assert rig.slots.verify(active) == []
    await eventually(lambda: rig.charger.port.resets == [False], rig.clock, what="restart")
    assert rig.logged("FirmwareUpdated")
    await eventually(
        lambda: "FirmwareUpdated" in rig.security_events(), rig.clock, what="security event"
    )
    assert not rig.slots.root.joinpath("incoming").exists()  # no download left behind


async def test_a_second_install_goes_to_the_slot_not_running(rig: Rig) -> None:
    url, data = publish(rig)
    assert await rig.request(url, sign(SIGNER, data)) == "Accepted"
    await rig.until_statuses(5)
    # Until its restart the charger refuses another install; then it accepts one.
    url, data = publish(rig, "0.3.0")
    if rig.installer.busy:
        assert await rig.request(url, sign(SIGNER, data), request_id=9) == "Rejected"
    await eventually(lambda: not rig.installer.busy, rig.clock, what="restart asked")
    assert await rig.request(url, sign(SIGNER, data), request_id=8) == "Accepted"
    await eventually(
        lambda: rig.statuses()[-1:] == ["InstallRebooting"] and len(rig.statuses()) == 10,
        rig.clock,
        what="second install",
    )
    active = rig.slots.active()
    assert active is not None
    assert (active.slot, active.version) == ("a", "0.3.0")
    assert active.previous is not None and active.previous["slot"] == "b"


async def test_a_bad_signature_is_reported_and_logged_and_nothing_is_installed(rig: Rig) -> None:
    url, data = publish(rig)
    assert await rig.request(url, sign(SIGNER, data + b"tampered")) == "Accepted"
    await rig.until_statuses(3)
    await settle_real(rig.clock)
    assert rig.statuses() == ["Downloading", "Downloaded", "InvalidSignature"]
    assert rig.slots.active() is None
    assert rig.charger.port.resets == []
    assert any("does not match the file" in info for info in rig.logged("InvalidFirmwareSignature"))
    await eventually(
        lambda: "InvalidFirmwareSignature" in rig.security_events(), rig.clock, what="event"
    )


@pytest.mark.parametrize(
    ("signer", "words"),
    [
        (make_signer(make_root("Someone Else's Root")), "does not chain"),
        (
            make_signer(
                ROOT, not_before=NOW - timedelta(days=90), not_after=NOW - timedelta(days=1)
            ),
            "expired",
        ),
    ],
    ids=["untrusted-root", "expired"],
)
async def test_an_untrusted_signing_certificate_is_answered_invalid_and_logged(
    rig: Rig, signer: Issued, words: str
) -> None:
    url, data = publish(rig)
    assert await rig.request(url, sign(signer, data), signer=signer) == "InvalidCertificate"
    await eventually(
        lambda: "InvalidFirmwareSigningCertificate" in rig.security_events(),
        rig.clock,
        what="security event",
    )
    assert any(words in info for info in rig.logged("InvalidFirmwareSigningCertificate"))
    assert rig.statuses() == []
    assert rig.files.hits == []  # nothing downloaded
    assert rig.slots.active() is None


async def test_without_a_provisioned_root_every_request_is_answered_invalid_certificate(
    unprovisioned: Rig,
) -> None:
    rig = unprovisioned
    url, data = publish(rig)
    assert await rig.request(url, sign(SIGNER, data)) == "InvalidCertificate"
    assert any(
        "updates.firmware_root_ca_file" in info
        for info in rig.logged("InvalidFirmwareSigningCertificate")
    )
    assert rig.files.hits == []


async def test_an_older_version_is_refused_as_a_rollback(rig: Rig) -> None:
    url, data = publish(rig, "0.0.9")
    assert await rig.request(url, sign(SIGNER, data)) == "Accepted"
    await rig.until_statuses(4)
    await settle_real(rig.clock)
    assert rig.statuses() == [
        "Downloading",
        "Downloaded",
        "SignatureVerified",
        "InstallationFailed",
    ]
    assert rig.slots.active() is None
    assert any("rollback refused" in info for info in rig.logged("UpdateRejected"))
    assert rig.charger.port.resets == []


async def test_a_signed_file_that_is_not_a_wheel_is_refused_in_words(rig: Rig) -> None:
    data = b"#!/bin/sh\necho signed but not a wheel\n"
    url = rig.files.publish(wheel_filename("0.2.0"), data)
    assert await rig.request(url, sign(SIGNER, data)) == "Accepted"
    await rig.until_statuses(4)
    assert rig.statuses()[-1] == "InstallationFailed"
    assert any("not a valid ukscp wheel" in info for info in rig.logged("UpdateRejected"))
    assert rig.slots.active() is None


async def test_install_waits_for_the_charging_session_to_end(rig: Rig) -> None:
    rig.charger.port.plug(rig.charger.bus, rig.clock)
    url, data = publish(rig)
    assert await rig.request(url, sign(SIGNER, data)) == "Accepted"
    await rig.until_statuses(3)
    # An hour of charging: verified, but not installed while the EV charges.
    await rig.clock.advance(3600)
    await settle_real(rig.clock)
    assert rig.statuses() == ["Downloading", "Downloaded", "SignatureVerified"]
    assert rig.slots.active() is None
    assert rig.installer.job is not None
    assert "waiting for the charging session to end" in rig.installer.job.detail
    rig.charger.port.unplug(rig.charger.bus, rig.clock, energy_wh=5000)
    await rig.until_statuses(5)
    assert rig.statuses() == SUCCESS
    assert rig.slots.active() is not None
    # The session's transaction ended before the install began.
    order = [
        r.payload.get("status", r.action)
        for r in rig.csms.received
        if r.action in ("StopTransaction", "SignedFirmwareStatusNotification")
    ]
    assert order.index("StopTransaction") < order.index("Installing")


async def test_retrieve_and_install_times_are_honoured_on_the_clock(rig: Rig) -> None:
    url, data = publish(rig)
    start = rig.clock.monotonic()
    answer = await rig.request(url, sign(SIGNER, data), retrieve_in_s=1800, install_in_s=7200)
    assert answer == "Accepted"
    await rig.until_statuses(1)
    assert rig.statuses() == ["DownloadScheduled"]
    await rig.clock.advance(1790)
    await settle_real(rig.clock)
    assert rig.files.hits == []  # not before retrieveDateTime
    await rig.until_statuses(5)
    assert rig.files.hits[0][1] - start >= 1800
    assert rig.statuses()[1:] == [
        "Downloading",
        "Downloaded",
        "SignatureVerified",
        "InstallScheduled",
    ]
    await rig.clock.advance(7200 - (rig.clock.monotonic() - start) - 10)
    await settle_real(rig.clock)
    assert len(rig.statuses()) == 5  # not installed before installDateTime
    assert rig.slots.active() is None
    await rig.until_statuses(7)
    assert rig.statuses()[-2:] == ["Installing", "InstallRebooting"]
    assert rig.clock.monotonic() - start >= 7200


async def test_a_failed_download_is_retried_after_the_interval(rig: Rig) -> None:
    url, data = publish(rig)
    rig.files.failures = 2
    answer = await rig.request(url, sign(SIGNER, data), retries=2, retry_interval=120)
    assert answer == "Accepted"
    await rig.until_statuses(5)
    assert rig.statuses() == SUCCESS
    assert [status for _, _, status in rig.files.hits] == [503, 503, 200]
    times = [at for _, at, _ in rig.files.hits]
    assert times[1] - times[0] >= 120
    assert times[2] - times[1] >= 120


async def test_a_download_that_keeps_failing_ends_in_download_failed(rig: Rig) -> None:
    url = rig.files.url(wheel_filename("0.2.0"))  # never published: 404
    answer = await rig.request(url, sign(SIGNER, b"x"), retries=1, retry_interval=30)
    assert answer == "Accepted"
    await rig.until_statuses(2)
    assert rig.statuses() == ["Downloading", "DownloadFailed"]
    assert [status for _, _, status in rig.files.hits] == [404, 404]
    assert rig.slots.active() is None


async def test_a_million_retries_without_a_pause_become_six_attempts_30_s_apart(
    rig: Rig,
) -> None:
    url = rig.files.url(wheel_filename("0.2.0"))  # never published: 404
    answer = await rig.request(url, sign(SIGNER, b"x"), retries=1_000_000, retry_interval=0)
    assert answer == "Accepted"
    await rig.until_statuses(2)
    assert rig.statuses() == ["Downloading", "DownloadFailed"]
    assert [status for _, _, status in rig.files.hits] == [404] * 6
    times = [at for _, at, _ in rig.files.hits]
    assert all(b - a >= 30 for a, b in itertools.pairwise(times))


async def test_a_download_from_this_chargers_own_network_is_rejected(in_service: Rig) -> None:
    url, data = publish(in_service)  # on 127.0.0.1
    assert await in_service.request(url, sign(SIGNER, data)) == "Rejected"
    assert in_service.files.hits == []


async def test_a_name_that_resolves_to_loopback_fails_the_download_at_once(
    in_service: Rig,
) -> None:
    url, data = publish(in_service)
    # 2130706433 is 127.0.0.1 as one number: a name to the URL, loopback once resolved.
    disguised = url.replace("127.0.0.1", "2130706433")
    answer = await in_service.request(disguised, sign(SIGNER, data), retries=5)
    assert answer == "Accepted"
    await in_service.until_statuses(2)
    assert in_service.statuses() == ["Downloading", "DownloadFailed"]
    assert in_service.files.hits == []


async def test_a_new_request_stops_the_running_download_at_once(
    tmp_path: Path, clock: VirtualClock, files: FirmwareServer
) -> None:
    hung = HungServer()
    root = write_root(tmp_path / "root.pem", ROOT)
    try:
        # A long socket timeout: only stopping the first download lets its connection go.
        async for rig in _rig(tmp_path, clock, files, root, timeout_s=120.0):
            url = hung.url("/fw/" + wheel_filename("0.2.0"))
            assert await rig.request(url, sign(SIGNER, b"x")) == "Accepted"
            assert await asyncio.to_thread(hung.accepted.wait, 10)
            url, data = publish(rig, "0.3.0")
            assert await rig.request(url, sign(SIGNER, data), request_id=8) == "AcceptedCanceled"
            assert await asyncio.to_thread(hung.closed.wait, 10), "the first download still runs"
            await rig.until_statuses(6)
            assert rig.statuses()[-5:] == SUCCESS
    finally:
        hung.stop()


async def test_statuses_reach_a_csms_that_was_offline_in_order_after_it_returns(
    rig: Rig,
) -> None:
    url, data = publish(rig)
    assert await rig.request(url, sign(SIGNER, data), retrieve_in_s=600) == "Accepted"
    await rig.until_statuses(1)
    assert rig.statuses() == ["DownloadScheduled"]
    online = rig.csms.connection_count
    await rig.csms.kill()
    # The charger downloads and installs with the CSMS gone, then asks for its restart.
    await rig.clock.advance(600)
    await eventually(lambda: rig.charger.port.resets == [False], rig.clock, what="install")
    assert rig.slots.active() is not None
    assert rig.statuses() == ["DownloadScheduled"]
    await rig.csms.start()
    await eventually(lambda: len(rig.statuses()) >= 6, rig.clock, timeout_s=30, what="delivery")
    assert rig.statuses() == ["DownloadScheduled", *SUCCESS]
    assert rig.request_ids() == {7}
    later = [
        r.connection for r in rig.csms.received if r.action == "SignedFirmwareStatusNotification"
    ][1:]
    assert min(later) > online
    await eventually(
        lambda: "FirmwareUpdated" in rig.security_events(), rig.clock, what="security event"
    )


async def test_a_new_request_cancels_one_not_yet_installing(rig: Rig) -> None:
    url, data = publish(rig)
    assert await rig.request(url, sign(SIGNER, data), retrieve_in_s=600) == "Accepted"
    await rig.until_statuses(1)
    url, data = publish(rig, "0.3.0")
    assert await rig.request(url, sign(SIGNER, data), request_id=8) == "AcceptedCanceled"
    await rig.until_statuses(6)
    await rig.clock.advance(600)
    await settle_real(rig.clock)
    notes = rig.csms.of("SignedFirmwareStatusNotification")
    assert [(n["request_id"], n["status"]) for n in notes] == [
        (7, "DownloadScheduled"),
        *[(8, status) for status in SUCCESS],
    ]
    active = rig.slots.active()
    assert active is not None and active.version == "0.3.0"
    assert [path for path, _, _ in rig.files.hits] == ["/fw/" + wheel_filename("0.3.0")]


async def test_what_the_launcher_reported_reaches_the_csms_from_the_next_start(
    tmp_path: Path, clock: VirtualClock
) -> None:
    # The launcher fell back before this start: the new client hands its report on.
    data = tmp_path / "data"
    write_key(data / "ocpp_key")
    FirmwareSlots(data).add_report(42, "InstallVerificationFailed", "slot b changed")
    async with running_csms() as csms:
        charger, _ = build_charger(data, clock, csms.url, None)
        charger.start()
        try:
            await eventually(
                lambda: bool(csms.of("SignedFirmwareStatusNotification")), clock, what="report"
            )
        finally:
            await charger.stop()
    [report] = csms.of("SignedFirmwareStatusNotification")
    assert (report["status"], report["request_id"]) == ("InstallVerificationFailed", 42)
    assert FirmwareSlots(data).reports() == []  # handed on once
