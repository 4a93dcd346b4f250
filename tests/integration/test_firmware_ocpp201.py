"""UpdateFirmware (OCPP 2.0.1 L01) on the whole charger, as ``build_app`` makes it.

A real 2.0.1 central system (``ocpp`` library) and a real HTTP server on
127.0.0.1; the manufacturer root comes from the config file
(``updates.firmware_root_ca_file``). The checks themselves are the ones the
1.6 tests cover at length: here, that 2.0.1 reaches them and reports in its words.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ocpp.v201 import call

from tests.firmware_support import make_root, make_signer, sign, wheel_bytes, wheel_filename
from tests.firmware_support import write_root as write_roots
from tests.integration.test_firmware_ocpp16 import FirmwareServer
from tests.integration.test_ocpp16_support import IDENTITY, CsmsServer, eventually, write_key
from tests.integration.test_ocpp201_support import running_csms201
from ukscp.app import App, build_app
from ukscp.clock import VirtualClock
from ukscp.config import OcppSettings, Settings, UpdateSettings
from ukscp.ocpp.blocks.meter_values.readings import ocpp_time
from ukscp.ocpp.v201.edge import BOOT_REASON_KEY

ROOT = make_root()
SIGNER = make_signer(ROOT, "ec")
VERIFIED = ["Downloading", "Downloaded", "SignatureVerified", "Installing"]


@dataclass
class Station:
    app: App
    csms: CsmsServer
    files: FirmwareServer
    clock: VirtualClock

    def statuses(self) -> list[str]:
        return [p["status"] for p in self.csms.of("FirmwareStatusNotification")]

    async def update(self, data: bytes, signature: str, request_id: int = 11) -> str:
        url = self.files.publish(wheel_filename("0.2.0"), data)
        firmware = {
            "location": url,
            "retrieve_date_time": ocpp_time(self.clock.now()),
            "signing_certificate": SIGNER.pem,
            "signature": signature,
        }
        answer = await self.csms.call(call.UpdateFirmware(request_id=request_id, firmware=firmware))
        return str(answer.status)


@pytest.fixture
def files(clock: VirtualClock) -> Iterator[FirmwareServer]:
    server = FirmwareServer(clock)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def station(
    tmp_path: Path, clock: VirtualClock, files: FirmwareServer
) -> AsyncIterator[Station]:
    data = tmp_path / "data"
    write_key(data / "ocpp_key")
    async with running_csms201() as csms:
        ocpp = OcppSettings(
            enabled=True,
            version="2.0.1",
            url=csms.url,
            identity=IDENTITY,
            security_profile=1,
            authorization_key_file=data / "ocpp_key",
            allow_insecure_transport=True,  # a lab: ws:// and a plain-HTTP file server
            allow_private_targets=True,  # on 127.0.0.1
        )
        updates = UpdateSettings(firmware_root_ca_file=write_roots(tmp_path / "root.pem", ROOT))
        app = build_app(Settings(data_dir=data, ocpp=ocpp, updates=updates), clock)
        app.start()
        task = asyncio.create_task(app.ocpp.run())
        try:
            await eventually(lambda: app.ocpp.status().online, clock, what="registration")
            yield Station(app, csms, files, clock)
        finally:
            app.shutdown("test finished")
            await task
            app.close()


async def test_signed_firmware_is_installed_and_the_charger_asks_for_its_restart(
    station: Station,
) -> None:
    data = wheel_bytes("0.2.0")
    assert await station.update(data, sign(SIGNER, data)) == "Accepted"
    await eventually(
        lambda: station.statuses()[:4] == VERIFIED, station.clock, what="the install"
    )
    await eventually(station.app.reset_requested.is_set, station.clock, what="the restart")
    # L01: the start that follows tells the CSMS it is a firmware update's.
    assert station.app.store.get(BOOT_REASON_KEY) == "FirmwareUpdate"
    assert {p["request_id"] for p in station.csms.of("FirmwareStatusNotification")} == {11}
    assert "InvalidSignature" not in station.statuses()


async def test_a_bad_signature_is_reported_in_2_0_1_words_and_to_the_csms(
    station: Station,
) -> None:
    data = wheel_bytes("0.2.0")
    assert await station.update(data, sign(SIGNER, data + b"changed")) == "Accepted"
    await eventually(
        lambda: station.statuses() == ["Downloading", "Downloaded", "InvalidSignature"],
        station.clock,
    )
    await eventually(
        lambda: "InvalidFirmwareSignature"
        in [p["type"] for p in station.csms.of("SecurityEventNotification")],
        station.clock,
    )
    assert not station.app.reset_requested.is_set()


async def test_an_untrusted_certificate_is_answered_invalid_certificate(
    station: Station,
) -> None:
    stranger = make_signer(make_root(), "ec")
    data = wheel_bytes("0.2.0")
    firmware = {
        "location": station.files.publish(wheel_filename("0.2.0"), data),
        "retrieve_date_time": ocpp_time(station.clock.now()),
        "signing_certificate": stranger.pem,
        "signature": sign(stranger, data),
    }
    answer = await station.csms.call(call.UpdateFirmware(request_id=12, firmware=firmware))
    assert answer.status == "InvalidCertificate"
