"""The real charger against an independent central system: npm's ocpp-rpc in strict mode.

Each test runs once with ``ocpp.version: "1.6"`` and once with ``"2.0.1"`` (one is for
2.0.1 only) against the same central system, ``tests/peers/ocpp_rpc/csms.js``, which
offers ``ocpp1.6`` and ``ocpp2.0.1`` and speaks the one the charger asks for. Every
message ukscp sends, and every answer it gives, is validated by ocpp-rpc against that
protocol's JSON schemas (1.6 with the security extension's messages, or 2.0.1); a
violation comes back to the charger as a CallError and is reported by the central
system. The ``csms`` fixture fails the test on any such report, and on any call the
central system has no answer for.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import OWNER, RunningCharger, device_client, free_port

pytestmark = pytest.mark.e2e

CSMS = Path(__file__).parents[1] / "peers" / "ocpp_rpc" / "csms.js"
KEY = "e2e-authorization-key-7f3a"  # a test key for a temporary charger
Factory = Callable[..., RunningCharger]
Event = dict[str, Any]


def is_call(method: str) -> Callable[[Event], bool]:
    return lambda e: e["event"] == "call" and e["method"] == method


def measured(values: list[dict[str, Any]], measurand: str) -> list[float]:
    """The values of ``measurand`` in OCPP meterValue objects (same shape in 1.6 and 2.0.1)."""
    return [
        float(sample["value"])
        for value in values
        for sample in value["sampledValue"]
        if sample.get("measurand") == measurand
    ]


@dataclass(frozen=True)
class Version:
    """What differs between the two OCPP versions, as a central system sees it."""

    ocpp: str  # the charger's ocpp.version
    protocol: str  # the WebSocket subprotocol
    random_delay: tuple[str, ...]  # the regulation 11 maximum: a key, or component + variable
    auth_cache: tuple[str, ...]  # whether the authorization cache is on

    def vendor(self, boot: Event) -> str:
        params = boot["params"]
        if self.ocpp == "1.6":
            return str(params["chargePointVendor"])
        return str(params["chargingStation"]["vendorName"])

    def started(self, event: Event) -> bool:
        if self.ocpp == "1.6":
            return is_call("StartTransaction")(event)
        return is_call("TransactionEvent")(event) and event["params"]["eventType"] == "Started"

    def ended(self, event: Event) -> bool:
        if self.ocpp == "1.6":
            return is_call("StopTransaction")(event)
        return is_call("TransactionEvent")(event) and event["params"]["eventType"] == "Ended"

    def meter(self, event: Event, measurand: str) -> list[float]:
        """``measurand`` in a transaction's meter values (MeterValues / TransactionEvent)."""
        method = "MeterValues" if self.ocpp == "1.6" else "TransactionEvent"
        if not is_call(method)(event):
            return []
        return measured(event["params"].get("meterValue", []), measurand)

    def get(self, csms: NodeCsms, name: tuple[str, ...]) -> str | None:
        """GetConfiguration / GetVariables of one value: the value (None if refused)."""
        if self.ocpp == "1.6":
            (key,) = name
            answer = csms.call("GetConfiguration", {"key": [key]})
            found = answer.get("configurationKey", [])
            return str(found[0]["value"]) if found else None
        component, variable = name
        answer = csms.call("GetVariables", {"getVariableData": [
            {"component": {"name": component}, "variable": {"name": variable}},
        ]})
        (result,) = answer["getVariableResult"]
        assert result["component"]["name"] == component
        assert result["variable"]["name"] == variable
        return result.get("attributeValue") if result["attributeStatus"] == "Accepted" else None

    def set(self, csms: NodeCsms, name: tuple[str, ...], value: str) -> str:
        """ChangeConfiguration / SetVariables of one value: its status."""
        if self.ocpp == "1.6":
            (key,) = name
            return str(csms.call("ChangeConfiguration", {"key": key, "value": value})["status"])
        component, variable = name
        answer = csms.call("SetVariables", {"setVariableData": [
            {"component": {"name": component}, "variable": {"name": variable},
             "attributeValue": value},
        ]})
        (result,) = answer["setVariableResult"]
        return str(result["attributeStatus"])

    def sample_every_second(self, csms: NodeCsms) -> None:
        name = (
            ("MeterValueSampleInterval",) if self.ocpp == "1.6"
            else ("SampledDataCtrlr", "TxUpdatedInterval")
        )
        assert self.set(csms, name, "1") == "Accepted"

    def set_profile_amps(self, csms: NodeCsms, amps: float) -> str:
        """SetChargingProfile: a TxDefaultProfile for the whole station, ``amps`` from now on."""
        schedule = {
            "chargingRateUnit": "A", "startSchedule": "2026-01-01T00:00:00Z",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": amps}],
        }
        profile: dict[str, Any] = {
            "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
        }
        if self.ocpp == "1.6":
            params = {"connectorId": 0, "csChargingProfiles": {
                **profile, "chargingProfileId": 7, "chargingSchedule": schedule}}
        else:
            params = {"evseId": 0, "chargingProfile": {
                **profile, "id": 7, "chargingSchedule": [{"id": 1, **schedule}]}}
        return str(csms.call("SetChargingProfile", params)["status"])

    def check_transaction(self, events: list[Event]) -> None:
        """One whole transaction as the central system received it, in order."""
        if self.ocpp == "1.6":
            starts = [e for e in events if is_call("StartTransaction")(e)]
            stops = [e for e in events if is_call("StopTransaction")(e)]
            assert len(starts) == 1 and len(stops) == 1
            assert stops[0]["params"]["meterStop"] >= starts[0]["params"]["meterStart"]
            return
        tx = [e["params"] for e in events if is_call("TransactionEvent")(e)]
        assert [p["eventType"] for p in tx] == ["Started", *["Updated"] * (len(tx) - 2), "Ended"]
        assert len({p["transactionInfo"]["transactionId"] for p in tx}) == 1
        # seqNo counts the transaction's messages from 0: none lost, none twice
        assert [p["seqNo"] for p in tx] == list(range(len(tx)))
        triggers = {p["triggerReason"] for p in tx}
        assert {"CablePluggedIn", "ChargingRateChanged", "MeterValuePeriodic"} <= triggers
        assert tx[-1]["transactionInfo"]["stoppedReason"] == "EVDisconnected"
        energy = [measured(p.get("meterValue", []), "Energy.Active.Import.Register") for p in tx]
        assert energy[0] and energy[-1] and energy[-1][0] >= energy[0][0]


V16 = Version(
    "1.6", "ocpp1.6", ("UkRandomDelayMaxDuration",), ("AuthorizationCacheEnabled",)
)
V201 = Version(
    "2.0.1", "ocpp2.0.1", ("UkRandomDelayCtrlr", "MaxDuration"), ("AuthCacheCtrlr", "Enabled")
)
BOTH = pytest.mark.parametrize("version", [V16, V201], ids=["1.6", "2.0.1"], indirect=True)
ONLY_201 = pytest.mark.parametrize("version", [V201], ids=["2.0.1"], indirect=True)


class NodeCsms:
    """The ocpp-rpc central system in a child process, spoken to over stdio."""

    def __init__(self, password: str) -> None:
        self.port = free_port()
        # Both protocols offered: the subprotocol the charger asks for chooses.
        self.process = subprocess.Popen(
            ["node", str(CSMS), f"--port={self.port}", f"--password={password}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self.events: queue.Queue[Event] = queue.Queue()
        self.seen: list[Event] = []  # every event, in order, for checks after the fact
        self.invalid: list[Event] = []  # messages strict mode refused, either way
        self.unhandled: list[Event] = []  # calls this central system has no answer for
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for(lambda e: e["event"] == "listening")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            event = json.loads(line)
            if event["event"] == "invalid":
                self.invalid.append(event)
            if event["event"] == "unhandled":
                self.unhandled.append(event)
            self.seen.append(event)
            self.events.put(event)

    def wait_for(self, match: Callable[[Event], bool], timeout: float = 20) -> Event:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=deadline - time.monotonic())
            except queue.Empty:
                break
            if match(event):
                return event
        raise AssertionError(
            f"the central system never saw the expected event (refused: {self.invalid})"
        )

    def call(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"call": action, "params": params}) + "\n")
        self.process.stdin.flush()
        reply = self.wait_for(lambda e: e["event"] in ("result", "error") and e["call"] == action)
        assert reply["event"] == "result", reply
        return dict(reply["result"])

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture
def version(request: pytest.FixtureRequest) -> Version:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def csms() -> Iterator[NodeCsms]:
    central = NodeCsms(KEY)
    yield central
    central.close()
    assert central.invalid == [], f"strict mode refused messages: {central.invalid}"
    assert central.unhandled == [], f"calls left unanswered: {central.unhandled}"


def charger_config(tmp_path: Path, port: int, key: str, version: Version) -> Path:
    key_file = tmp_path / "ocpp_key"
    key_file.write_text(key)
    key_file.chmod(0o600)
    config = tmp_path / "charger.yaml"
    config.write_text(
        f"ocpp: {{enabled: true, version: '{version.ocpp}', "
        f"url: 'ws://127.0.0.1:{port}/ocpp', identity: CP_E2E, security_profile: 1, "
        f"authorization_key_file: '{key_file}', allow_insecure_transport: true}}\n"
    )
    return config


def is_security_event(kind: str) -> Callable[[Event], bool]:
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


@BOTH
def test_boot_transaction_and_a_charging_profile_seen_in_meter_values(
    version: Version, csms: NodeCsms, charger_factory: Factory, tmp_path: Path
) -> None:
    config = charger_config(tmp_path, csms.port, KEY, version)
    charger = charger_factory("--config", str(config), "--sim-plug")
    connected = csms.wait_for(lambda e: e["event"] == "connected")
    assert connected["identity"] == "CP_E2E" and connected["protocol"] == version.protocol
    boot = csms.wait_for(is_call("BootNotification"))
    assert version.vendor(boot) == "ukscp"
    csms.wait_for(is_call("StatusNotification"))
    csms.wait_for(version.started)
    # no random delay for this test's profile: the owner sets the maximum to 0
    charger.client.put("/api/v1/random-delay", json={"max_duration_s": 0})
    version.sample_every_second(csms)
    assert version.set_profile_amps(csms, 10) == "Accepted"

    csms.wait_for(lambda e: 10 in version.meter(e, "Current.Offered"))
    status = charger.client.get("/api/v1/status").json()
    assert status["limit"]["source"] == "ocpp"
    assert status["offered_current_a"] == 10
    # and the EV draws it, as the next sampled values show
    csms.wait_for(lambda e: 10 in version.meter(e, "Current.Import"))

    # The EV leaves: the transaction ends, and the whole of it reached the central system.
    assert charger.client.post("/api/v1/sim/unplug").status_code == 200
    csms.wait_for(version.ended)
    version.check_transaction(list(csms.seen))
    assert charger.stop() == 0


@BOTH
def test_the_random_delay_maximum_is_read_and_set_over_ocpp(
    version: Version, csms: NodeCsms, charger_factory: Factory, tmp_path: Path
) -> None:
    """Regulation 11: the maximum delay is remotely settable, 0..1800 s, and the owner sees it."""
    config = charger_config(tmp_path, csms.port, KEY, version)
    charger = charger_factory("--config", str(config))
    csms.wait_for(is_call("BootNotification"))
    assert charger.client.put("/api/v1/random-delay", json={"max_duration_s": 600}).status_code \
        == 200
    assert version.get(csms, version.random_delay) == "600"

    assert version.set(csms, version.random_delay, "900") == "Accepted"
    assert version.get(csms, version.random_delay) == "900"
    assert charger.client.get("/api/v1/random-delay").json()["max_duration_s"] == 900

    assert version.set(csms, version.random_delay, "1801") == "Rejected"
    assert version.set(csms, version.random_delay, "ten minutes") == "Rejected"
    assert version.get(csms, version.random_delay) == "900"
    assert charger.stop() == 0


@BOTH
def test_clear_cache_data_transfer_and_unlock_connector_are_answered(
    version: Version, csms: NodeCsms, charger_factory: Factory, tmp_path: Path
) -> None:
    """Core requests, each answer checked against the version's schema by strict mode.

    No authorization cache to clear; DataTransfer knows only our vendor and its one
    message (CancelRandomDelay: Rejected with no delay running); the cable is
    tethered, so there is no lock to release.
    """
    config = charger_config(tmp_path, csms.port, KEY, version)
    charger = charger_factory("--config", str(config))
    csms.wait_for(is_call("BootNotification"))

    assert csms.call("ClearCache", {}) == {"status": "Rejected"}
    assert version.get(csms, version.auth_cache) == "false"
    other = csms.call("DataTransfer", {"vendorId": "com.example", "messageId": "Hello"})
    assert other == {"status": "UnknownVendorId"}
    ours = csms.call("DataTransfer", {"vendorId": "org.ukscp", "messageId": "CancelRandomDelay"})
    assert ours == {"status": "Rejected"}  # no delay is running
    unknown = csms.call("DataTransfer", {"vendorId": "org.ukscp", "messageId": "MakeCoffee"})
    assert unknown == {"status": "UnknownMessageId"}
    if version.ocpp == "1.6":
        assert csms.call("UnlockConnector", {"connectorId": 1}) == {"status": "NotSupported"}
    else:
        unlock = csms.call("UnlockConnector", {"evseId": 1, "connectorId": 1})
        assert unlock == {"status": "UnlockFailed"}
        unknown = csms.call("UnlockConnector", {"evseId": 2, "connectorId": 1})
        assert unknown == {"status": "UnknownConnector"}
    assert charger.stop() == 0


@ONLY_201
def test_get_and_set_variables_answer_for_each_variable(
    version: Version, csms: NodeCsms, charger_factory: Factory, tmp_path: Path
) -> None:
    """GetVariables / SetVariables of several variables at once, known and unknown (B05, B06)."""
    config = charger_config(tmp_path, csms.port, KEY, version)
    charger = charger_factory("--config", str(config))
    csms.wait_for(is_call("BootNotification"))

    def variable(component: str, name: str, **more: Any) -> dict[str, Any]:
        return {"component": {"name": component}, "variable": {"name": name}, **more}

    answer = csms.call("SetVariables", {"setVariableData": [
        variable("UkRandomDelayCtrlr", "MaxDuration", attributeValue="120"),
        variable("OCPPCommCtrlr", "HeartbeatInterval", attributeValue="600"),
        variable("TxCtrlr", "TxStartPoint", attributeValue="Authorized"),  # read-only
        variable("NoSuchCtrlr", "Enabled", attributeValue="true"),
        variable("UkRandomDelayCtrlr", "NoSuchVariable", attributeValue="1"),
        variable("UkRandomDelayCtrlr", "MaxDuration", attributeValue="60", attributeType="Target"),
    ]})
    assert [r["attributeStatus"] for r in answer["setVariableResult"]] == [
        "Accepted", "Accepted", "Rejected", "UnknownComponent", "UnknownVariable",
        "NotSupportedAttributeType",
    ]
    answer = csms.call("GetVariables", {"getVariableData": [
        variable("UkRandomDelayCtrlr", "MaxDuration"),
        variable("OCPPCommCtrlr", "HeartbeatInterval"),
        variable("TxCtrlr", "TxStartPoint"),
        variable("SecurityCtrlr", "BasicAuthPassword"),  # write-only (A01)
        variable("NoSuchCtrlr", "Enabled"),
    ]})
    results = [(r["attributeStatus"], r.get("attributeValue")) for r in answer["getVariableResult"]]
    assert results == [
        ("Accepted", "120"), ("Accepted", "600"), ("Accepted", "EVConnected"),
        ("Rejected", None), ("UnknownComponent", None),
    ]
    assert charger.client.get("/api/v1/random-delay").json()["max_duration_s"] == 120
    assert charger.stop() == 0


@ONLY_201
def test_an_energy_managers_limit_is_notified_and_cleared_in_the_standards_shape(
    version: Version, csms: NodeCsms, charger_factory: Factory, tmp_path: Path
) -> None:
    """K12/K13: NotifyChargingLimit (source EMS, its schedule) and ClearedChargingLimit,
    each checked against the 2.0.1 schemas by strict mode."""
    config = charger_config(tmp_path, csms.port, KEY, version)
    charger = charger_factory("--config", str(config))
    csms.wait_for(is_call("BootNotification"))
    answer = charger.client.post("/api/v1/limits/ems", json={"amps": 9, "cause": "local"})
    assert answer.status_code == 200
    notified = csms.wait_for(is_call("NotifyChargingLimit"))["params"]
    assert notified["chargingLimit"] == {"chargingLimitSource": "EMS"}
    assert notified["evseId"] == 1
    [schedule] = notified["chargingSchedule"]
    assert schedule["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 9}]
    assert charger.client.delete("/api/v1/limits/ems").status_code == 200
    cleared = csms.wait_for(is_call("ClearedChargingLimit"))["params"]
    assert cleared == {"chargingLimitSource": "EMS", "evseId": 1}
    assert charger.stop() == 0


@BOTH
def test_critical_security_events_arrive_as_security_event_notifications(
    version: Version, csms: NodeCsms, charger_factory: Factory, tmp_path: Path
) -> None:
    config = charger_config(tmp_path, csms.port, KEY, version)
    charger = charger_factory("--config", str(config), "--sim-plug")
    csms.wait_for(version.started)
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


@BOTH
def test_a_wrong_authorization_key_is_refused_and_the_charger_keeps_charging(
    version: Version, csms: NodeCsms, charger_factory: Factory, tmp_path: Path
) -> None:
    config = charger_config(tmp_path, csms.port, "not-the-key-at-all-0000", version)
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
    start = csms.wait_for(version.started)
    if version.ocpp == "1.6":
        assert start["params"]["idTag"] and start["params"]["connectorId"] == 1
    else:
        assert start["params"]["seqNo"] == 0 and start["params"]["evse"]["id"] == 1
        assert start["params"]["offline"] is True  # it began while the charger was refused
    assert charging(charger.client.get("/api/v1/status").json())
    assert charger.stop() == 0
