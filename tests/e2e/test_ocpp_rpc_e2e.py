"""The real charger against an independent central system: npm's ocpp-rpc in strict mode.

Every message ukscp sends, and every answer it gives, is validated by ocpp-rpc against
the OCPP 1.6 JSON schemas (with the security extension's messages); a violation comes
back to the charger as a CallError and is reported by the central system, and the
``csms`` fixture fails the test on any such report.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import OWNER, RunningCharger, device_client, free_port

pytestmark = pytest.mark.e2e

CSMS = Path(__file__).parents[1] / "peers" / "ocpp_rpc" / "csms.js"
KEY = "e2e-authorization-key-7f3a"  # a test key for a temporary charger
Factory = Callable[..., RunningCharger]


class NodeCsms:
    """The ocpp-rpc central system in a child process, spoken to over stdio."""

    def __init__(self, password: str) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            ["node", str(CSMS), f"--port={self.port}", f"--password={password}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.invalid: list[dict[str, Any]] = []  # messages strict mode refused, either way
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for(lambda e: e["event"] == "listening")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            event = json.loads(line)
            if event["event"] == "invalid":
                self.invalid.append(event)
            self.events.put(event)

    def wait_for(self, match: Callable[[dict[str, Any]], bool], timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=deadline - time.monotonic())
            except queue.Empty:
                break
            if match(event):
                return event
        raise AssertionError("the central system never saw the expected event")

    def call(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"call": action, "params": params}) + "\n")
        self.process.stdin.flush()
        reply = self.wait_for(lambda e: e["event"] in ("result", "error") and e["call"] == action)
        assert reply["event"] == "result", reply
        return reply["result"]

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture
def csms() -> Iterator[NodeCsms]:
    central = NodeCsms(KEY)
    yield central
    central.close()
    assert central.invalid == [], "strict mode refused messages"


def charger_config(tmp_path: Path, port: int, key: str) -> Path:
    key_file = tmp_path / "ocpp_key"
    key_file.write_text(key)
    key_file.chmod(0o600)
    config = tmp_path / "charger.yaml"
    config.write_text(
        "ocpp: {enabled: true, version: '1.6', "
        f"url: 'ws://127.0.0.1:{port}/ocpp', identity: CP_E2E, security_profile: 1, "
        f"authorization_key_file: '{key_file}', allow_insecure_transport: true}}\n"
    )
    return config


def is_call(method: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["event"] == "call" and e["method"] == method


def is_security_event(kind: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: is_call("SecurityEventNotification")(e) and e["params"]["type"] == kind


def wait_for_status(
    charger: RunningCharger, match: Callable[[dict[str, Any]], bool], timeout: float = 20
) -> dict[str, Any]:
    """Poll the real process's status until ``match`` holds (or fail at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        status: dict[str, Any] = charger.client.get("/api/v1/status").json()
        if match(status):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"the charger never reached the expected status: {status}")
        time.sleep(0.1)


def charging(status: dict[str, Any]) -> bool:
    return bool(status["state"] == "C" and status["offered_current_a"] > 0)


def test_boot_transaction_and_a_charging_profile_seen_in_meter_values(
    csms: NodeCsms, charger_factory: Factory, tmp_path: Path
):
    config = charger_config(tmp_path, csms.port, KEY)
    charger = charger_factory("--config", str(config), "--sim-plug")
    boot = csms.wait_for(is_call("BootNotification"))
    assert boot["params"]["chargePointVendor"] == "ukscp"
    csms.wait_for(is_call("StartTransaction"))
    # no random delay for this test's profile: the owner sets the maximum to 0
    charger.client.put("/api/v1/random-delay", json={"max_duration_s": 0})
    assert csms.call("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "1"})[
        "status"] == "Accepted"
    profile = {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 7, "stackLevel": 1,
            "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A", "startSchedule": "2026-01-01T00:00:00Z",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}],
            },
        },
    }
    assert csms.call("SetChargingProfile", profile)["status"] == "Accepted"

    def offered_10(event: dict[str, Any]) -> bool:
        if not is_call("MeterValues")(event):
            return False
        values = event["params"]["meterValue"][0]["sampledValue"]
        return any(v.get("measurand") == "Current.Offered" and float(v["value"]) == 10
                   for v in values)

    csms.wait_for(offered_10)
    status = charger.client.get("/api/v1/status").json()
    assert status["limit"]["source"] == "ocpp"
    assert status["offered_current_a"] == 10
    assert charger.stop() == 0


def test_critical_security_events_arrive_as_security_event_notifications(
    csms: NodeCsms, charger_factory: Factory, tmp_path: Path
):
    config = charger_config(tmp_path, csms.port, KEY)
    charger = charger_factory("--config", str(config), "--sim-plug")
    csms.wait_for(is_call("StartTransaction"))
    wait_for_status(charger, charging)

    # Someone opens the enclosure: the board's tamper switch trips.
    assert charger.client.post("/api/v1/sim/tamper").status_code == 200
    wait_for_status(charger, lambda s: s["offered_current_a"] == 0)  # charging stops
    tamper = csms.wait_for(is_security_event("TamperDetectionActivated"))
    assert tamper["params"]["timestamp"].endswith("Z")

    # Someone guesses the owner's password until the account locks.
    with device_client(charger.url, charger.data_dir) as stranger:
        answers = [
            stranger.post(
                "/api/v1/login", json={"username": OWNER, "password": f"guess-{n}-wrong"}
            ).status_code
            for n in range(6)
        ]
    assert answers[0] == 401 and answers[-1] == 429, answers
    csms.wait_for(is_security_event("AccountLockedOut"))
    assert charger.stop() == 0


def write_key(path: Path, key: str) -> None:
    """Provision a key as an installer would: 0600, replacing the old file in one step."""
    fresh = path.with_suffix(".new")
    fresh.write_text(key)
    fresh.chmod(0o600)
    os.replace(fresh, path)


def test_a_wrong_authorization_key_is_refused_and_the_charger_keeps_charging(
    csms: NodeCsms, charger_factory: Factory, tmp_path: Path
):
    config = charger_config(tmp_path, csms.port, "not-the-key-at-all-0000")
    charger = charger_factory("--config", str(config), "--sim-plug")
    refused = csms.wait_for(lambda e: e["event"] == "rejected")  # HTTP 401 at the upgrade
    assert refused["identity"] == "CP_E2E" and refused["withPassword"]
    # regulation 7: no back end, still a charger
    wait_for_status(charger, charging)
    log = charger.client.get("/api/v1/security-log").json()
    assert "FailedToAuthenticateAtCentralSystem" in [record["type"] for record in log]

    # The right key is provisioned: the charger's next attempt reads it and connects,
    # then delivers the transaction it began while it was refused.
    write_key(tmp_path / "ocpp_key", KEY)
    csms.wait_for(lambda e: e["event"] == "connected", timeout=40)
    csms.wait_for(is_call("BootNotification"))
    start = csms.wait_for(is_call("StartTransaction"))
    assert start["params"]["idTag"] and start["params"]["connectorId"] == 1
    assert charging(charger.client.get("/api/v1/status").json())
    assert charger.stop() == 0
