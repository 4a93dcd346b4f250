"""ChangeAvailability (OCPP 1.6 section 5.2, OCPP 2.0.1 G03/G04) against real CSMSs.

On a fake charger port for the OCPP side (answers, statuses, transactions,
persistence), and on the whole charger (``build_app``) for what the EVSE does:
the out-of-service limit, the randomised delay, a restart.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from tests.integration.test_ocpp16_support import (
    Charger,
    CsmsServer,
    eventually,
    make_charger,
    running_csms,
    start_real_charger,
    transport_config,
    write_key,
)
from tests.integration.test_ocpp201_support import (
    events,
    make_charger201,
    running_csms201,
    start_real_charger201,
    transport_config201,
)
from ukscp.clock import VirtualClock
from ukscp.limits import LimitSource
from ukscp.ocpp.transport import TransportConfig
from ukscp.ocpp_adapter import AVAILABILITY_SLOT
from ukscp.regulation.random_delay import Cause, Direction, Policy, policy_decision


@dataclass(frozen=True)
class Version:
    name: str
    running_csms: Callable[..., AbstractAsyncContextManager[CsmsServer]]
    make_charger: Callable[..., Charger]
    config: Callable[[str, Path], TransportConfig]
    start_real: Callable[..., Any]

    @property
    def v16(self) -> bool:
        return self.name == "1.6"

    def change(self, status: str, target: int | None = None) -> Any:
        """ChangeAvailability: 1.6 connectorId ``target`` (0 if None), 2.0.1 evse ``target``."""
        if self.v16:
            return call16.ChangeAvailability(connector_id=target or 0, type=status)
        evse = None if target is None else {"id": target}
        return call201.ChangeAvailability(operational_status=status, evse=evse)

    def remote_start(self) -> Any:
        if self.v16:
            return call16.RemoteStartTransaction(id_tag="SUPPLIER-APP")
        token = {"id_token": "SUPPLIER-APP", "type": "Central"}
        return call201.RequestStartTransaction(id_token=token, remote_start_id=9)

    def statuses(self, csms: CsmsServer) -> list[tuple[int, str]]:
        key = "status" if self.v16 else "connector_status"
        return [(p["connector_id"], p[key]) for p in csms.of("StatusNotification")]

    def last_status(self, csms: CsmsServer, connector: int = 1) -> str | None:
        found = [s for c, s in self.statuses(csms) if c == connector]
        return found[-1] if found else None

    def transactions_started(self, csms: CsmsServer) -> int:
        if self.v16:
            return len(csms.of("StartTransaction"))
        return sum(e["event_type"] == "Started" for e in events(csms))


V16 = Version("1.6", running_csms, make_charger, transport_config, start_real_charger)
V201 = Version(
    "2.0.1", running_csms201, make_charger201, transport_config201, start_real_charger201
)
VERSIONS = [pytest.param(V16, id="1.6"), pytest.param(V201, id="2.0.1")]


@pytest.fixture(params=VERSIONS)
def version(request: pytest.FixtureRequest) -> Version:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def csms(version: Version) -> AsyncIterator[CsmsServer]:
    async with version.running_csms() as server:
        yield server


async def started(version: Version, data: Path, clock: VirtualClock, csms: CsmsServer) -> Charger:
    write_key(data / "ocpp_key")
    built = version.make_charger(data, clock, version.config(csms.url, data))
    built.start()
    await eventually(lambda: built.client.online, clock, what="registration")
    await eventually(lambda: version.last_status(csms) is not None, clock, what="status")
    return built


@pytest.fixture
async def charger(
    tmp_path: Path, clock: VirtualClock, csms: CsmsServer, version: Version
) -> AsyncIterator[Charger]:
    built = await started(version, tmp_path, clock, csms)
    yield built
    await built.stop()


# ----------------------------------------------------------------------------- the OCPP side


async def test_inoperative_at_once_then_no_session_starts_until_operative(
    charger: Charger, csms: CsmsServer, version: Version
) -> None:
    assert (await csms.call(version.change("Inoperative"))).status == "Accepted"
    assert charger.port.operative is False
    await eventually(lambda: version.last_status(csms) == "Unavailable", charger.clock)
    if version.v16:  # connectorId 0: the charge point itself is unavailable too
        await eventually(lambda: version.last_status(csms, 0) == "Unavailable", charger.clock)

    charger.port.plug(charger.bus, charger.clock)
    assert (await csms.call(version.remote_start())).status == "Rejected"
    for _ in range(8):
        await charger.clock.advance(0.25)
    assert version.transactions_started(csms) == 0
    assert version.last_status(csms) == "Unavailable"

    assert (await csms.call(version.change("Operative"))).status == "Accepted"
    assert charger.port.operative is True
    # Back in service with the EV plugged in: its transaction starts now.
    await eventually(lambda: version.transactions_started(csms) == 1, charger.clock)
    await eventually(lambda: version.last_status(csms) not in (None, "Unavailable"), charger.clock)


async def test_inoperative_during_a_transaction_is_scheduled_for_its_end(
    charger: Charger, csms: CsmsServer, version: Version
) -> None:
    charger.port.plug(charger.bus, charger.clock)
    await eventually(lambda: version.transactions_started(csms) == 1, charger.clock)
    assert (await csms.call(version.change("Inoperative", 1))).status == "Scheduled"
    assert charger.port.operative is True  # the transaction goes on
    assert charger.client.operative

    charger.port.unplug(charger.bus, charger.clock, energy_wh=100.0)
    assert charger.port.operative is False
    await eventually(lambda: version.last_status(csms) == "Unavailable", charger.clock)
    # Already out of service: Accepted again, nothing changes.
    assert (await csms.call(version.change("Inoperative"))).status == "Accepted"
    assert charger.port.operative is False


async def test_operative_cancels_a_scheduled_inoperative(
    charger: Charger, csms: CsmsServer, version: Version
) -> None:
    charger.port.plug(charger.bus, charger.clock)
    await eventually(lambda: version.transactions_started(csms) == 1, charger.clock)
    assert (await csms.call(version.change("Inoperative"))).status == "Scheduled"
    assert (await csms.call(version.change("Operative"))).status == "Accepted"
    charger.port.unplug(charger.bus, charger.clock, energy_wh=100.0)
    await eventually(lambda: version.last_status(csms) == "Available", charger.clock)
    assert charger.port.operative is True
    assert charger.client.operative


async def test_a_connector_or_evse_the_charger_does_not_have_is_rejected(
    charger: Charger, csms: CsmsServer, version: Version
) -> None:
    assert (await csms.call(version.change("Inoperative", 2))).status == "Rejected"
    assert charger.port.operative is True


async def test_out_of_service_survives_a_restart_until_made_operative(
    tmp_path: Path, clock: VirtualClock, csms: CsmsServer, version: Version
) -> None:
    first = await started(version, tmp_path, clock, csms)
    assert (await csms.call(version.change("Inoperative"))).status == "Accepted"
    await first.stop()

    csms.received.clear()
    second = await started(version, tmp_path, clock, csms)
    try:
        assert second.port.operative is False  # imposed before anything could charge
        assert not second.client.operative
        assert version.last_status(csms) == "Unavailable"  # the first status after the boot
        second.port.plug(second.bus, second.clock)
        for _ in range(8):
            await clock.advance(0.25)
        assert version.transactions_started(csms) == 0
        assert (await csms.call(version.change("Operative"))).status == "Accepted"
        assert second.port.operative is True
        await eventually(lambda: version.transactions_started(csms) == 1, clock)
    finally:
        await second.stop()


BAD_PAYLOADS = {
    "1.6": [
        ({"connectorId": 0, "type": "Broken"}, "PropertyConstraintViolation"),
        ({"connectorId": 0}, "ProtocolError"),
        ({"connectorId": "zero", "type": "Inoperative"}, "TypeConstraintViolation"),
        ({"connectorId": 0, "type": "Inoperative", "x": 1}, "FormationViolation"),
    ],
    "2.0.1": [
        ({"operationalStatus": "Broken"}, "PropertyConstraintViolation"),
        ({}, "OccurrenceConstraintViolation"),
        ({"operationalStatus": "Inoperative", "evse": {}}, "OccurrenceConstraintViolation"),
        ({"operationalStatus": "Inoperative", "evse": {"id": "1"}}, "TypeConstraintViolation"),
        ({"operationalStatus": "Inoperative", "x": 1}, "FormatViolation"),
    ],
}


@pytest.mark.parametrize(
    ("version", "payload", "code"),
    [
        pytest.param(v, payload, code, id=f"{v.name}-{code}-{i}")
        for v in (V16, V201)
        for i, (payload, code) in enumerate(BAD_PAYLOADS[v.name])
    ],
)
async def test_bad_payloads_get_the_versions_callerror_and_change_nothing(
    charger: Charger, csms: CsmsServer, version: Version, payload: dict[str, Any], code: str
) -> None:
    assert csms.cp is not None
    unique_id = f"bad-{code}"
    frame = json.dumps([2, unique_id, "ChangeAvailability", payload])
    answer = await csms.cp.raw_call(frame, unique_id)
    assert answer[0] == 4, answer  # CALLERROR
    assert answer[2] == code, answer
    assert charger.port.operative is True
    assert (await csms.call(version.change("Operative"))).status == "Accepted"


# ----------------------------------------------------------------------------- the whole charger


def fixed_draw(maximum: int) -> int:
    return min(300, maximum)


async def test_the_whole_charger_out_of_service_and_back_through_the_arbiter(
    tmp_path: Path, clock: VirtualClock, csms: CsmsServer, version: Version
) -> None:
    data = tmp_path / "data"
    real = version.start_real(data, clock, csms.url, draw=fixed_draw)
    try:
        await eventually(lambda: real.client.online, clock, what="registration")
        assert (await csms.call(version.change("Inoperative"))).status == "Accepted"
        limit = real.app.arbiter.active()[AVAILABILITY_SLOT]
        assert (limit.amps, limit.source) == (0, LimitSource.OWNER)
        assert "out of service" in limit.reason
        # Taken out of service like a remote stop: the by_source policy never delays it.
        delays, _ = policy_decision(Policy.BY_SOURCE, Cause.of_limit(limit), Direction.STOP)
        assert not delays
        assert real.app.arbiter.current.amps == 0

        assert real.app.sim is not None
        real.app.sim.plug()
        for _ in range(8):
            await clock.advance(0.25)
        assert real.app.controller.status().offered_a == 0
        assert version.transactions_started(csms) == 0
    finally:
        await real.stop()

    # A restart: still out of service, before the EV (still plugged in) could charge.
    real = version.start_real(data, clock, csms.url, draw=fixed_draw)
    try:
        assert AVAILABILITY_SLOT in real.app.arbiter.active()
        await eventually(lambda: real.client.online, clock, what="registration")
        await eventually(lambda: version.last_status(csms) == "Unavailable", clock)
        assert real.app.controller.status().offered_a == 0

        # Back in service: the CSMS's decision, so the start of charging is delayed
        # as any OCPP-driven start is (regulation 11), not applied at once.
        assert (await csms.call(version.change("Operative"))).status == "Accepted"
        assert AVAILABILITY_SLOT not in real.app.arbiter.active()
        delay = real.app.gate.status()
        assert (delay.running, delay.cause, delay.duration_s) == (True, "ocpp", 300)
        assert real.app.controller.status().offered_a == 0
        await eventually(
            lambda: real.app.controller.status().offered_a > 0,
            clock,
            step_s=5,
            what="the end of the delay",
        )
        assert clock.monotonic() >= 300
        await eventually(lambda: version.transactions_started(csms) >= 1, clock)
    finally:
        await real.stop()
