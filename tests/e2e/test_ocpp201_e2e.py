"""The real ``ukscp run`` process with ``ocpp.version: "2.0.1"`` against a 2.0.1 central system.

The central system is the ``ocpp`` library's (``ocpp.v201.ChargePoint`` over
``websockets.serve`` on 127.0.0.1, the same one the integration tests use), run
on its own event loop in a thread beside the test.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from ocpp.v201 import call

from tests.e2e.conftest import RunningCharger
from tests.integration.test_ocpp16_support import CsmsServer
from tests.integration.test_ocpp201_support import csms201

pytestmark = pytest.mark.e2e

IDENTITY = "CP_E2E_201"
KEY = "e2e-authorization-key-201-9c1d"  # a test key for a temporary charger
Factory = Callable[..., RunningCharger]
T = TypeVar("T")


class ThreadedCsms:
    """A :class:`CsmsServer` on an event loop of its own, driven from synchronous tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: CsmsServer = csms201(basic_auth=(IDENTITY, KEY), heartbeat_interval=60)
        self.run(self.server.start())

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 20) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def call(self, message: Any) -> Any:
        return self.run(self.server.call(message))

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"the central system never saw it: {self.server.actions()}")
            time.sleep(0.05)

    def close(self) -> None:
        self.run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def csms() -> Iterator[ThreadedCsms]:
    central = ThreadedCsms()
    yield central
    central.close()


def charger_config(tmp_path: Path, port: int) -> Path:
    key_file = tmp_path / "ocpp_key"
    key_file.write_text(KEY)
    key_file.chmod(0o600)
    config = tmp_path / "charger.yaml"
    config.write_text(
        "ocpp: {enabled: true, version: '2.0.1', "
        f"url: 'ws://127.0.0.1:{port}/ocpp', identity: {IDENTITY}, security_profile: 1, "
        f"authorization_key_file: '{key_file}', allow_insecure_transport: true}}\n"
    )
    return config


def offered(event: dict[str, Any]) -> float | None:
    for meter_value in event.get("meter_value", []):
        for value in meter_value["sampled_value"]:
            if value.get("measurand") == "Current.Offered":
                return float(value["value"])
    return None


def test_boot_then_a_charging_profile_changes_the_offered_current(
    csms: ThreadedCsms, charger_factory: Factory, tmp_path: Path
) -> None:
    charger = charger_factory(
        "--config", str(charger_config(tmp_path, csms.server.port)), "--sim-plug"
    )
    server = csms.server
    csms.wait_for(lambda: "BootNotification" in server.actions())
    assert server.of("BootNotification")[0]["charging_station"]["vendor_name"] == "ukscp"
    csms.wait_for(lambda: any(e["event_type"] == "Started" for e in server.of("TransactionEvent")))
    # no random delay for this test's profile: the owner sets the maximum to 0
    assert charger.client.put("/api/v1/random-delay", json={"max_duration_s": 0}).status_code == 200
    answer = csms.call(
        call.SetVariables(
            set_variable_data=[
                {
                    "component": {"name": "SampledDataCtrlr"},
                    "variable": {"name": "TxUpdatedInterval"},
                    "attribute_value": "1",
                }
            ]
        )
    )
    assert answer.set_variable_result[0]["attribute_status"] == "Accepted"
    profile = {
        "id": 7,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "A",
                "startSchedule": "2026-01-01T00:00:00Z",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}],
            }
        ],
    }
    result = csms.call(call.SetChargingProfile(evse_id=0, charging_profile=profile))
    assert result.status == "Accepted"

    csms.wait_for(lambda: any(offered(e) == 10 for e in server.of("TransactionEvent")))
    status = charger.client.get("/api/v1/status").json()
    assert status["limit"]["source"] == "ocpp"
    assert status["offered_current_a"] == 10
    assert charger.stop() == 0
